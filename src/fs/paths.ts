/** Comparing file paths the way the file system does: two spellings of one file compare equal. */
import { realpath } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * An absolute path with symlinks resolved where the file exists, so that `a/./x.png`, `b/x.png`
 * through a symlinked `b`, and `/abs/a/x.png` all give the same string. A file that does not exist
 * yet has its folder resolved instead (the folder may itself be reached through a symlink).
 */
export async function canonicalPath(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}
