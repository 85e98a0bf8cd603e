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
 *
 * The data dir is input too (README "Trust model"): a file is read without following a symlink
 * (O_NOFOLLOW) and only from a job folder that is a real directory, records are checked before
 * use (stored-job.ts), and start-up deletes only the uploads the server itself names.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import { firstLine } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { DataDirError } from './data-dir.js';
import { isJobId } from './ids.js';
import type { JobStatus } from './events.js';
import type { JobSpec } from './job.js';
import { StorageFullError } from './errors.js';
import { CONTENT_FILE, maskFile, parseStoredJob, styleFile } from './stored-job.js';

/** The files a job folder may hold that the API serves or the server writes. */
export type JobFile =
  'job.json' | 'status.json' | 'content.img' | `style-${number}.img` | `mask-${number}.img` | 'preview.png' | 'result.png' | 'sheet.png' | 'history.json' | CheckpointFile;
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
  /** One per style, in style order, when the job has masks. */
  masks?: string[];
}

export class JobStore {
  readonly jobsDir: string;
  readonly uploadsDir: string;

  constructor(readonly dataDir: string) {
    this.jobsDir = join(dataDir, 'jobs');
    this.uploadsDir = join(dataDir, 'uploads');
  }

  /**
   * Create the folders (the data dir itself must exist) and delete the uploads a crash left behind:
   * only plain files named as uploadPath() names them, so a folder that was someone else's keeps its
   * files. A `jobs` or `uploads` that is a symlink is refused (DataDirError): everything written or
   * deleted there would land outside the data dir. Works on a full disk.
   */
  async init(): Promise<void> {
    for (const dir of [this.jobsDir, this.uploadsDir]) {
      const info = await lstat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
      if (info?.isSymbolicLink()) throw new DataDirError(`the data directory's ${basename(dir)} is a symbolic link (${dir}); use a real folder`);
      if (info && !info.isDirectory()) throw new DataDirError(`the data directory's ${basename(dir)} is not a folder (${dir})`);
      if (!info) await mkdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    }
    for (const entry of await readdir(this.uploadsDir, { withFileTypes: true })) {
      if (entry.isFile() && UPLOAD_NAME.test(entry.name)) await unlink(join(this.uploadsDir, entry.name)).catch(() => {});
    }
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
    return join(this.uploadsDir, `${randomBytes(12).toString('hex')}${UPLOAD_SUFFIX}`);
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
      for (let i = 0; i < (spec.masks?.length ?? 0); i++) await rename(inputs.masks![i], join(dir, spec.masks![i].file));
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

  /** Copy one file of a job over another atomically (read without following a link, then an atomic write). */
  async copy(id: string, from: JobFile, to: JobFile): Promise<void> {
    const bytes = await this.read(id, from);
    if (!bytes) throw Object.assign(new Error(`${from} is missing`), { code: 'ENOENT' });
    await this.write(id, to, bytes);
  }

  /** The file's bytes; undefined when it is missing, or is not a plain file in a real job folder (a symlink, say). */
  async read(id: string, name: JobFile): Promise<Buffer | undefined> {
    if (!(await this.isRealFolder(id))) return undefined;
    return readOwnFile(this.file(id, name));
  }

  async has(id: string, name: JobFile): Promise<boolean> {
    if (!(await this.isRealFolder(id))) return false;
    return lstat(this.file(id, name)).then(
      (info) => info.isFile(),
      () => false,
    );
  }

  /** Delete the uploaded images of a job (a cancelled job does not need them any more); the names are the server's own, never the record's. */
  async removeInputs(spec: JobSpec): Promise<void> {
    const masks = (spec.masks ?? []).map((_, i) => maskFile(i));
    for (const file of [CONTENT_FILE, ...spec.styles.map((_, i) => styleFile(i)), ...masks]) await rm(this.file(spec.id, file), { force: true });
  }

  /** Whether the job's folder is a directory itself, not a link to one elsewhere. */
  private async isRealFolder(id: string): Promise<boolean> {
    return lstat(this.dir(id)).then(
      (info) => info.isDirectory(),
      () => false,
    );
  }

  /**
   * Delete a job's folder with everything in it. A Redis worker may still be writing the final
   * status.json of a job whose record already says done: a file created while rm empties the folder
   * makes its rmdir fail (ENOTEMPTY), which rm's retries absorb (the write after that fails with
   * ENOENT: atomic writes never create folders). The local queue waits for its own writes instead.
   */
  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true, maxRetries: 3 });
  }

  /** Bytes used by every job folder and pending upload (a walk of the data dir; cheap for thousands of files). */
  async usage(): Promise<number> {
    return (await folderBytes(this.jobsDir)) + (await folderBytes(this.uploadsDir));
  }

  /**
   * Every usable job on disk. Folders that are not named as jobs are passed over; a job folder that
   * is a link, or whose records are missing or fail their checks (stored-job.ts), is skipped and
   * reported once through `onSkip`.
   */
  async loadAll(onSkip: (dir: string, why: string) => void = () => {}): Promise<StoredJob[]> {
    const jobs: StoredJob[] = [];
    for (const entry of await readdir(this.jobsDir, { withFileTypes: true })) {
      if (!isJobId(entry.name)) continue;
      const dir = join(this.jobsDir, entry.name);
      try {
        if (!entry.isDirectory()) throw new Error('not a folder (a symbolic link or a file)');
        const [spec, status] = await Promise.all([this.read(entry.name, 'job.json'), this.read(entry.name, 'status.json')]);
        if (!spec || !status) throw new Error(`${spec ? 'status.json' : 'job.json'} is missing or not a plain file`);
        jobs.push(parseStoredJob(spec.toString('utf8'), status.toString('utf8'), entry.name));
      } catch (err) {
        onSkip(dir, (err as Error).message);
      }
    }
    return jobs.sort((a, b) => a.spec.createdAt.localeCompare(b.spec.createdAt));
  }
}

/** What uploadPath() names a file: the only names start-up deletes from the uploads folder. */
const UPLOAD_SUFFIX = '.upload';
const UPLOAD_NAME = /^[0-9a-f]{24}\.upload$/;

/**
 * A file's bytes, opened without following a symlink (O_NOFOLLOW) and only when it is a plain
 * file; undefined when it is missing or is anything else. For files in folders others can edit.
 */
export async function readOwnFile(path: string): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return undefined;
    throw err;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile();
  } finally {
    await handle.close();
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
