/**
 * The memory budget of a run in Node: the `memory` option, else STYLE_TRANSFER_MEMORY_LIMIT, else
 * most of the free memory. What fits in it is decided by src/engine/budget.ts.
 */
import os from 'node:os';
import { parseBytes } from '../bytes.js';
import { OptionError } from '../errors.js';

/**
 * The budget: the `memory` option, else STYLE_TRANSFER_MEMORY_LIMIT, else 85 % of what the OS
 * reports available (free memory plus this process's own, or the cgroup limit when lower).
 */
export function memoryBudget(memory: string | number | undefined, env: NodeJS.ProcessEnv = process.env): number {
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
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  const free = os.freemem() + process.memoryUsage().rss;
  return 0.85 * (constrained && constrained > 0 ? Math.min(constrained, free) : free);
}
