/**
 * npm run build:web [-- --weights FILE] [--out DIR]
 *
 * Builds the page (Vite) into dist/web. With --weights, the static site also carries the network:
 * the file is checked (a safetensors VGG-19 that records its input convention: the compact conv-only
 * file `style-transfer weights path` names), copied to weights/<name>-<sha256 prefix>.safetensors,
 * and described in weights.json (url, sha256, bytes, name), which the page reads to offer the
 * download and to verify it. Without --weights, users of the static site pick the file themselves.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'vite';
import { describeBrowserNetwork } from '../src/server/network.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

export async function buildWeb(outDir: string, weights?: string): Promise<void> {
  await build({ configFile: path.join(repo, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  if (weights === undefined) return;
  const manifest = await describeBrowserNetwork(weights);
  await mkdir(path.join(outDir, 'weights'), { recursive: true });
  await copyFile(weights, path.join(outDir, manifest.url));
  await writeFile(path.join(outDir, 'weights.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({ options: { weights: { type: 'string' }, out: { type: 'string' } } });
  const out = path.resolve(values.out ?? path.join(repo, 'dist/web'));
  try {
    await buildWeb(out, values.weights);
    console.log(`built ${out}${values.weights ? ' with the network (weights.json)' : ''}`);
  } catch (err) {
    console.error(`error: ${(err as Error).message.split('\n')[0]}`);
    process.exitCode = 1;
  }
}
