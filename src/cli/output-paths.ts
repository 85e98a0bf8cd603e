/**
 * Checks every file the command will write before the run starts, so that minutes of work never end
 * in "cannot write", and nothing the user had is overwritten: each output (the image, the sheet, the
 * loss plot, the --save-every frames) must be writable, must not be one of the inputs (images,
 * init file, weights), and must not be another output. Paths are compared after resolving
 * symlinks, `.` and `..`, so two spellings of one file are caught.
 */
import { access, constants, stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { firstLine, StyleTransferError } from '../errors.js';
import { canonicalPath } from '../fs/paths.js';
import { UsageError } from './args.js';

/** A file the command reads or writes, with what the user calls it (`-o`, `--sheet`, `content image`). */
export interface NamedPath {
  readonly label: string;
  readonly path: string;
}

/** A file the command cannot write, or would write over something it must not: exit 1. */
export class OutputPathError extends StyleTransferError {
  constructor(message: string) {
    super(message, 'ERR_OUTPUT_PATH');
  }
}

/** `out.png` → `out-s<scale>-<iteration>.png`, the --save-every frames. */
export function framePath(output: string, scale: number, iteration: number): string {
  const ext = extname(output);
  return `${output.slice(0, output.length - ext.length)}-s${scale}-${String(iteration).padStart(4, '0')}${ext}`;
}

/** Whether the canonical `path` is one of the frames of the canonical `output`. */
function isFrameOf(path: string, output: string): boolean {
  if (dirname(path) !== dirname(output)) return false;
  const ext = extname(output);
  const stem = basename(output).slice(0, basename(output).length - ext.length);
  const name = basename(path);
  if (!name.startsWith(`${stem}-s`) || !name.endsWith(ext)) return false;
  return /^\d+-\d{4,}$/.test(name.slice(stem.length + 2, name.length - ext.length));
}

/**
 * Throws OutputPathError (a folder that is missing or not writable, an output that is a folder or
 * an input) or UsageError (two outputs naming one file). `frames`: the output whose name the
 * --save-every frames are derived from, if any.
 */
export async function checkOutputPaths(outputs: readonly NamedPath[], inputs: readonly NamedPath[], frames?: NamedPath): Promise<void> {
  const resolved = await Promise.all(outputs.map(async (o) => ({ ...o, real: await canonicalPath(o.path) })));
  const inputsReal = await Promise.all(inputs.map(async (i) => ({ ...i, real: await canonicalPath(i.path) })));
  for (const out of resolved) {
    await checkWritable(out);
    const input = inputsReal.find((i) => i.real === out.real);
    if (input) throw new OutputPathError(`refusing to overwrite the ${input.label} ${input.path} with the output ${out.path} (${out.label})`);
  }
  for (let a = 0; a < resolved.length; a++) {
    for (let b = a + 1; b < resolved.length; b++) {
      if (resolved[a].real === resolved[b].real) throw new UsageError(`${resolved[a].label} and ${resolved[b].label}`, 'different files', resolved[b].path);
    }
  }
  if (!frames) return;
  const output = await canonicalPath(frames.path);
  const input = inputsReal.find((i) => isFrameOf(i.real, output));
  if (input) throw new OutputPathError(`refusing to overwrite the ${input.label} ${input.path} with a ${frames.label} frame of ${frames.path}`);
  const other = resolved.find((o) => isFrameOf(o.real, output));
  if (other) throw new UsageError(other.label, `a file that is not a ${frames.label} frame of ${frames.path}`, other.path);
}

/** The output is not a folder, and its folder exists and can be written to. */
async function checkWritable(out: NamedPath & { real: string }): Promise<void> {
  const target = await stat(out.real).catch(() => undefined);
  if (target?.isDirectory()) throw new OutputPathError(`cannot write ${out.label} ${out.path}: it is a folder`);
  const folder = dirname(out.real);
  const info = await stat(folder).catch(() => undefined);
  if (!info) throw new OutputPathError(`cannot write ${out.label} ${out.path}: the folder ${dirname(out.path)} does not exist`);
  if (!info.isDirectory()) throw new OutputPathError(`cannot write ${out.label} ${out.path}: ${dirname(out.path)} is not a folder`);
  try {
    await access(folder, constants.W_OK);
  } catch (err) {
    throw new OutputPathError(`cannot write ${out.label} ${out.path}: ${firstLine(err)}`);
  }
}
