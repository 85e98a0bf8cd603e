/**
 * The jobs on disk, one folder each under `<dataDir>/jobs/<id>/`:
 *
 *   job.json       the JobSpec (options and input names), written once
 *   status.json    the JobStatus, rewritten atomically on every change, and always last
 *   content.img    the uploaded content image, as uploaded (dropped when a job is cancelled)
 *   style-N.img    the uploaded style images (likewise)
 *   preview.png    the latest preview frame of a running job
 *   result.png     the output (or the last image of a cancelled/failed/interrupted run)
 *   sheet.png      content | style(s) | result
 *   history.json   the loss of every iteration, for the chart
 *   checkpoint.*   Redis mode: the image after the last finished scale, where another worker resumes
 *
 * Uploads are streamed into `<dataDir>/uploads/` first and moved into the job folder by rename.
 * Every write goes through writeFileAtomic, so a crash leaves each file old or new, never torn.
 */
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { firstLine } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { isJobId } from './ids.js';
import type { JobSpec, JobStatus } from './job.js';
import { StorageFullError } from './queue-errors.js';

/** The files a job folder may hold that the API serves or the server writes. */
export type JobFile = 'job.json' | 'content.img' | `style-${number}.img` | 'preview.png' | 'result.png' | 'sheet.png' | 'history.json' | CheckpointFile;
/** A worker's image and state after each finished scale (Redis mode), so a job taken over by another worker resumes there. */
export type CheckpointFile = 'checkpoint.png' | 'checkpoint.json';

export interface StoredJob {
  spec: JobSpec;
  status: JobStatus;
}

/** Uploaded files waiting in the uploads folder, which a new job takes over (moves into its folder). */
export interface JobInputs {
  content: string;
  styles: string[];
}

export class JobStore {
  readonly jobsDir: string;
  readonly uploadsDir: string;

  constructor(readonly dataDir: string) {
    this.jobsDir = join(dataDir, 'jobs');
    this.uploadsDir = join(dataDir, 'uploads');
  }

  /** Create the folders (the data dir itself must exist) and clear uploads left by a crash. Works on a full disk. */
  async init(): Promise<void> {
    for (const dir of [this.jobsDir, this.uploadsDir]) await mkdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    for (const name of await readdir(this.uploadsDir)) await rm(join(this.uploadsDir, name), { force: true, recursive: true }).catch(() => {});
  }

  /** The folder of a job. The id is checked here too, so no caller can build a path from an unchecked string. */
  dir(id: string): string {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    return join(this.jobsDir, id);
  }

  file(id: string, name: JobFile): string {
    return join(this.dir(id), name);
  }

  /** A fresh path in the uploads folder for an incoming file. */
  uploadPath(): string {
    return join(this.uploadsDir, `${randomBytes(12).toString('hex')}.upload`);
  }

  /**
   * Create the folder with the inputs (moved from the uploads folder), the spec and the first status.
   * On failure nothing is left behind; a full disk becomes a StorageFullError.
   */
  async create(spec: JobSpec, inputs: JobInputs, status: JobStatus): Promise<void> {
    const dir = this.dir(spec.id);
    try {
      await mkdir(dir);
      await rename(inputs.content, join(dir, spec.content.file));
      for (let i = 0; i < spec.styles.length; i++) await rename(inputs.styles[i], join(dir, spec.styles[i].file));
      await writeFileAtomic(join(dir, 'job.json'), JSON.stringify(spec, null, 2));
      await this.writeStatus(status);
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => {});
      if (isDiskFull(err)) throw new StorageFullError(`the server's disk is full; try again later`);
      throw err;
    }
  }

  async writeStatus(status: JobStatus): Promise<void> {
    await writeFileAtomic(join(this.dir(status.id), 'status.json'), JSON.stringify(status, null, 2));
  }

  async write(id: string, name: JobFile, bytes: Uint8Array | string): Promise<void> {
    await writeFileAtomic(this.file(id, name), bytes);
  }

  /** Copy one file of a job over another atomically (a temporary copy, then rename). */
  async copy(id: string, from: JobFile, to: JobFile): Promise<void> {
    const target = this.file(id, to);
    const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await copyFile(this.file(id, from), temp);
      await rename(temp, target);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
  }

  async read(id: string, name: JobFile): Promise<Buffer | undefined> {
    try {
      return await readFile(this.file(id, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(id: string, name: JobFile): Promise<boolean> {
    try {
      return (await stat(this.file(id, name))).isFile();
    } catch {
      return false;
    }
  }

  /** Delete the uploaded images of a job (a cancelled job does not need them any more). */
  async removeInputs(spec: JobSpec): Promise<void> {
    for (const file of [spec.content.file, ...spec.styles.map((s) => s.file)]) await rm(this.file(spec.id, file as JobFile), { force: true });
  }

  /** Delete a job's folder with everything in it. */
  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
  }

  /** Bytes used by every job folder and pending upload (a walk of the data dir; cheap for thousands of files). */
  async usage(): Promise<number> {
    return (await folderBytes(this.jobsDir)) + (await folderBytes(this.uploadsDir));
  }

  /** Every readable job on disk. Folders that are not jobs, or whose JSON is unreadable, are skipped (and reported). */
  async loadAll(onSkip: (dir: string, why: string) => void = () => {}): Promise<StoredJob[]> {
    const jobs: StoredJob[] = [];
    for (const name of await readdir(this.jobsDir)) {
      if (!isJobId(name)) continue;
      try {
        const spec = JSON.parse(await readFile(join(this.jobsDir, name, 'job.json'), 'utf8')) as JobSpec;
        const status = JSON.parse(await readFile(join(this.jobsDir, name, 'status.json'), 'utf8')) as JobStatus;
        if (spec.id !== name || status.id !== name) throw new Error('id does not match its folder');
        jobs.push({ spec, status });
      } catch (err) {
        onSkip(join(this.jobsDir, name), (err as Error).message);
      }
    }
    return jobs.sort((a, b) => a.spec.createdAt.localeCompare(b.spec.createdAt));
  }
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(path);
    else if (entry.isFile())
      total += await stat(path).then(
        (s) => s.size,
        () => 0,
      );
  }
  return total;
}

/** No space (ENOSPC), over a quota (EDQUOT), or over the process's file-size limit (EFBIG). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

/** A one-line reason for a failed write of `file`, for a job's error message. */
export function describeWriteError(err: unknown, file: string): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return `cannot save ${file}: the server's disk is full`;
  if (code === 'EFBIG') return `cannot save ${file}: larger than the server's file-size limit`;
  if (code === 'ENOENT') return `cannot save ${file}: the job's folder was removed`;
  return `cannot save ${file}: ${firstLine(err)}`;
}
