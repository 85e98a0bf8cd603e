/**
 * Where the server keeps its jobs: `$STYLE_TRANSFER_HOME/server` when that is set (the same root as
 * the weights cache, so one variable moves everything), else `$XDG_DATA_HOME/style-transfer/server`,
 * else `~/.local/share/style-transfer/server`. Jobs are user data (results), not a cache, hence the
 * data directory rather than ~/.cache.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STYLE_TRANSFER_HOME) return join(env.STYLE_TRANSFER_HOME, 'server');
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, 'style-transfer', 'server');
  return join(homedir(), '.local', 'share', 'style-transfer', 'server');
}
