/**
 * One Vite build of each browser page, shared by every test (and bench:web) that needs it, instead
 * of one build per test file: the build goes to a folder in the temp dir named after a hash of its
 * inputs (the source tree, the page's folder, the Vite config, package.json (its "imports" pick
 * onnxruntime-web's build) and the lockfile), and a later caller
 * with the same inputs reuses it. Built into a scratch folder and renamed when complete, so a run
 * that dies mid-build leaves nothing that looks finished.
 *
 * - 'app': the web page (src/web, the project's vite.config.ts), as `build:web` builds it. The
 *   modules each bundle holds are listed in modules.json beside it (for the bundle test).
 * - 'engine': bench/web, a bare page whose worker runs the engine on onnxruntime-web (wasm or
 *   WebGPU): bench:web times it, the WebGPU parity test reads its loss and gradient.
 *
 * Callers must not write into the folder: it is shared (the browser-mode test serves its
 * weights.json from elsewhere).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build, type Plugin } from 'vite';
import { repoRoot } from '../helpers.js';

export type SiteKind = 'app' | 'engine';

/** The modules of each bundle of the 'app' build, relative to the repository (bundle.test.ts reads them). */
export interface BundledModules {
  readonly page: string[];
  readonly worker: string[];
}

const INPUTS: Record<SiteKind, string[]> = {
  app: ['src', 'vite.config.ts', 'package.json', 'package-lock.json'],
  engine: ['src', 'bench/web', 'bench/engine-measure.ts', 'package.json', 'package-lock.json'],
};

async function filesUnder(rel: string): Promise<string[]> {
  const full = path.join(repoRoot, rel);
  if (!existsSync(full)) return [];
  const entries = await readdir(full, { withFileTypes: true, recursive: true }).catch(() => undefined);
  if (!entries) return [rel]; // a file
  return entries.filter((e) => e.isFile()).map((e) => path.relative(repoRoot, path.join(e.parentPath, e.name)));
}

async function inputsHash(kind: SiteKind): Promise<string> {
  const hash = createHash('sha256').update(kind);
  const files = (await Promise.all(INPUTS[kind].map(filesUnder))).flat().sort();
  for (const file of files)
    hash
      .update(file)
      .update('\0')
      .update(await readFile(path.join(repoRoot, file)))
      .update('\0');
  return hash.digest('hex').slice(0, 16);
}

function moduleLister(into: Set<string>): Plugin {
  return {
    name: 'list-bundled-modules',
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) if (chunk.type === 'chunk') for (const id of chunk.moduleIds) into.add(id);
    },
  };
}

async function buildInto(kind: SiteKind, outDir: string): Promise<void> {
  if (kind === 'engine') {
    await build({ root: path.join(repoRoot, 'bench/web'), base: './', logLevel: 'error', build: { outDir, emptyOutDir: true, target: 'es2022' }, worker: { format: 'es' } });
    return;
  }
  const page = new Set<string>();
  const worker = new Set<string>();
  await build({
    configFile: path.join(repoRoot, 'vite.config.ts'),
    logLevel: 'error',
    build: { outDir, emptyOutDir: true },
    plugins: [moduleLister(page)],
    worker: { plugins: () => [moduleLister(worker)] },
  });
  const rel = (ids: Set<string>) => [...ids].map((id) => path.relative(repoRoot, id).replaceAll(path.sep, '/'));
  const modules: BundledModules = { page: rel(page), worker: rel(worker) };
  await writeFile(path.join(outDir, 'modules.json'), JSON.stringify(modules));
}

const pending = new Map<string, Promise<string>>();

/** The folder holding the current build of `kind` (built now if no complete one exists). */
export function builtSite(kind: SiteKind): Promise<string> {
  return inputsHash(kind).then((hash) => {
    const dir = path.join(tmpdir(), `st-site-${kind}-${hash}`);
    let done = pending.get(dir);
    if (!done) {
      done = (async () => {
        if (existsSync(path.join(dir, 'index.html'))) return dir;
        const scratch = await mkdtemp(path.join(tmpdir(), `st-site-${kind}-building-`));
        try {
          await buildInto(kind, scratch);
          await rename(scratch, dir).catch(async (err: NodeJS.ErrnoException) => {
            // Another process finished the same build first: keep theirs.
            if (!existsSync(path.join(dir, 'index.html'))) throw err;
          });
          // Builds of older sources (each holds ~50 MB of onnxruntime wasm) go after an hour: a
          // test file still serving one (sources edited mid-run) keeps it meanwhile.
          for (const name of await readdir(tmpdir())) {
            const other = path.join(tmpdir(), name);
            if (!name.startsWith(`st-site-${kind}-`) || name.includes('-building-') || other === dir) continue;
            const info = await stat(other).catch(() => undefined);
            if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(other, { recursive: true, force: true });
          }
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
        return dir;
      })();
      pending.set(dir, done);
    }
    return done;
  });
}

/** The modules the 'app' build's page and worker bundles hold. */
export async function bundledModules(): Promise<BundledModules> {
  return JSON.parse(await readFile(path.join(await builtSite('app'), 'modules.json'), 'utf8')) as BundledModules;
}
