/**
 * Room for new jobs: the data dir's file system must keep some space free, and the jobs may use
 * at most a quota. A POST that would not fit is refused (507) before its upload is read; the
 * server keeps serving what it has, read-only, until space comes back.
 */
import { statfs } from 'node:fs/promises';
import { formatBytes } from '../format.js';
import { StorageFullError } from './errors.js';
import type { JobStore } from './job-store.js';

export interface DiskPolicy {
  /** Bytes the jobs may use in all (uploads, previews, results); undefined: no quota. */
  maxDataBytes?: number;
  /** Free bytes the file system must keep; new jobs are refused below it. */
  minFreeBytes: number;
}

/** How long a measured usage is trusted (a walk of the data dir per request would be wasteful). */
const USAGE_TTL_MS = 2000;

export class DiskGuard {
  private usage: { bytes: number; at: number } | undefined;

  constructor(
    private readonly store: JobStore,
    private readonly policy: DiskPolicy,
  ) {}

  /** Throws StorageFullError when a new job must be refused. */
  async check(): Promise<void> {
    const fs = await statfs(this.store.dataDir).catch(() => undefined);
    if (fs && fs.bavail * fs.bsize < this.policy.minFreeBytes) {
      throw new StorageFullError(`the server's disk is full (${formatBytes(fs.bavail * fs.bsize)} free); try again later`);
    }
    const quota = this.policy.maxDataBytes;
    if (quota === undefined) return;
    const now = Date.now();
    if (!this.usage || now - this.usage.at > USAGE_TTL_MS) this.usage = { bytes: await this.store.usage(), at: now };
    if (this.usage.bytes >= quota) {
      throw new StorageFullError(`the server's storage for jobs is full (${formatBytes(this.usage.bytes)} of ${formatBytes(quota)}); try again later`);
    }
  }

  /** Forget the measured usage (after a job was stored or deleted). */
  invalidate(): void {
    this.usage = undefined;
  }
}
