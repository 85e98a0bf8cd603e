/**
 * Where the server keeps its jobs: `$STYLE_TRANSFER_HOME/server` when that is set (the same root as
 * the weights cache, so one variable moves everything), else `$XDG_DATA_HOME/style-transfer/server`,
 * else `~/.local/share/style-transfer/server`. Jobs are user data (results), not a cache, hence the
 * data directory rather than ~/.cache.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { firstLine } from '../errors.js';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STYLE_TRANSFER_HOME) return join(env.STYLE_TRANSFER_HOME, 'server');
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, 'style-transfer', 'server');
  return join(homedir(), '.local', 'share', 'style-transfer', 'server');
}

/** The data directory cannot be used (missing parent on an odd file system, not a directory, no permission). */
export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

/**
 * Create `dir` (and its missing parents) and check that it is a writable directory. The folders are
 * made one at a time: Node's recursive mkdir loops forever under /proc (`--data-dir /proc/x` spun
 * at 100 % CPU). Nothing is written, so a full disk still lets the server start (read-only).
 */
export async function ensureDataDir(dir: string): Promise<void> {
  const target = resolve(dir);
  try {
    const missing: string[] = [];
    for (let at = target; ; at = dirname(at)) {
      const info = await stat(at).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
      if (info) {
        if (!info.isDirectory()) throw new DataDirError(`the data directory ${target} cannot be used: ${at} is not a directory`);
        break;
      }
      missing.unshift(at);
      if (dirname(at) === at) break;
    }
    for (const folder of missing) await mkdir(folder);
    await access(target, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    throw new DataDirError(`the data directory ${target} cannot be used: ${firstLine(err)}`);
  }
}
