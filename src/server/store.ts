/**
 * The jobs on disk, one folder each under `<dataDir>/jobs/<id>/`:
 *
 *   job.json       the JobSpec (options and input names), written once
 *   status.json    the JobStatus, rewritten atomically on every change
 *   content.img    the uploaded content image, as uploaded
 *   style-N.img    the uploaded style images
 *   preview.png    the latest preview frame of a running job
 *   result.png     the output (or the last image of a cancelled/failed/interrupted run)
 *   sheet.png      content | style(s) | result
 *   history.json   the loss of every iteration, for the chart
 *
 * Every write goes through writeFileAtomic, so a crash leaves each file old or new, never torn.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { isJobId } from './ids.js';
import type { JobSpec, JobStatus } from './job.js';

/** The files a job folder may hold that the API serves or the server writes. */
export type JobFile = 'job.json' | 'content.img' | `style-${number}.img` | 'preview.png' | 'result.png' | 'sheet.png' | 'history.json';

export interface StoredJob {
  spec: JobSpec;
  status: JobStatus;
}

export class JobStore {
  readonly jobsDir: string;

  constructor(readonly dataDir: string) {
    this.jobsDir = join(dataDir, 'jobs');
  }

  async init(): Promise<void> {
    await mkdir(this.jobsDir, { recursive: true });
  }

  /** The folder of a job. The id is checked here too, so no caller can build a path from an unchecked string. */
  dir(id: string): string {
    if (!isJobId(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
    return join(this.jobsDir, id);
  }

  file(id: string, name: JobFile): string {
    return join(this.dir(id), name);
  }

  /** Create the folder with the inputs, the spec and the first status. */
  async create(spec: JobSpec, inputs: { content: Uint8Array; styles: Uint8Array[] }, status: JobStatus): Promise<void> {
    const dir = this.dir(spec.id);
    await mkdir(dir, { recursive: false });
    await writeFileAtomic(join(dir, spec.content.file), inputs.content);
    for (let i = 0; i < spec.styles.length; i++) await writeFileAtomic(join(dir, spec.styles[i].file), inputs.styles[i]);
    await writeFileAtomic(join(dir, 'job.json'), JSON.stringify(spec, null, 2));
    await this.writeStatus(status);
  }

  async writeStatus(status: JobStatus): Promise<void> {
    await writeFileAtomic(join(this.dir(status.id), 'status.json'), JSON.stringify(status, null, 2));
  }

  async write(id: string, name: JobFile, bytes: Uint8Array | string): Promise<void> {
    await writeFileAtomic(this.file(id, name), bytes);
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
