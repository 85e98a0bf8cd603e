/**
 * Where a job's images live: its inputs, preview frames, checkpoints, result and sheet. With the
 * embedded queue that is the server's data dir; with Redis it is a directory every server and
 * worker sees (a shared volume), because images never travel through Redis: a job's record there
 * holds its id, options and progress only.
 *
 * JobStore (job-store.ts: one folder per job under <dataDir>/jobs/) is the implementation; this is
 * the part of it that a resumable run (resume.ts) and the queues' history reads need, so another
 * one (an object store) would have a small surface to cover.
 */
import type { LossPoint } from './events.js';
import type { JobFile } from './job-store.js';

export interface JobFiles {
  /** The file's bytes, or undefined when it does not exist. */
  read(id: string, name: JobFile): Promise<Buffer | undefined>;
  /** Write atomically: a reader sees the old bytes or the new ones, never a torn file. */
  write(id: string, name: JobFile, bytes: Uint8Array | string): Promise<void>;
  has(id: string, name: JobFile): Promise<boolean>;
}

/** A job's saved loss history (history.json); empty when it has none or it cannot be read. */
export async function readHistory(files: Pick<JobFiles, 'read'>, id: string): Promise<LossPoint[]> {
  try {
    const bytes = await files.read(id, 'history.json');
    return bytes ? (JSON.parse(bytes.toString('utf8')) as LossPoint[]) : [];
  } catch {
    return [];
  }
}
