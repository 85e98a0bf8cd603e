/**
 * The memory budget of a run in Node: the `memory` option, else STYLE_TRANSFER_MEMORY_LIMIT, else
 * most of the free memory. What fits in it is decided by src/engine/memory.ts.
 */
import os from 'node:os';
import { parseBytes } from '../bytes.js';
import { OptionError } from '../errors.js';

/**
 * The budget: the `memory` option, else STYLE_TRANSFER_MEMORY_LIMIT, else 85 % of `available`
 * (default: what the OS reports, see availableMemory). The facts are parameters so that a test can
 * give any.
 */
export function memoryBudget(memory: string | number | undefined, env: NodeJS.ProcessEnv = process.env, available: () => number = availableMemory): number {
  if (memory !== undefined) {
    const bytes = typeof memory === 'number' ? memory : parseBytes(memory);
    if (!bytes || !Number.isFinite(bytes)) throw new OptionError('memory', 'a size such as 4G, 512M or a number of bytes', memory);
    return bytes;
  }
  if (env.STYLE_TRANSFER_MEMORY_LIMIT) {
    const bytes = parseBytes(env.STYLE_TRANSFER_MEMORY_LIMIT);
    if (!bytes) throw new OptionError('STYLE_TRANSFER_MEMORY_LIMIT', 'a size such as 4G, 512M or a number of bytes', env.STYLE_TRANSFER_MEMORY_LIMIT);
    return bytes;
  }
  return 0.85 * available();
}

/** What this process may use by the OS's account: the free memory plus its own, or the cgroup limit when lower. */
export function availableMemory(): number {
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const free = os.freemem() + process.memoryUsage().rss;
  return constrained && constrained > 0 ? Math.min(constrained, free) : free;
}
