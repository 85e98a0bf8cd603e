/**
 * Errors of the job system that its callers tell apart: the server maps each to a status code
 * (src/server/http-error.ts), a runner process reports each by its kind (src/runner/), and the
 * worker refuses or fails the job.
 */
import { StyleTransferError } from '../errors.js';

/** A job this server does not take as asked: its options are malformed or past a limit (the server answers 400). */
export class JobRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobRefusedError';
  }
}

/** The disk or the data dir's quota is full: no new job is accepted for now (the server answers 507). */
export class StorageFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageFullError';
  }
}

/** Writing a running job's file failed; the message names the file and the reason. The job fails with it. */
export class StorageError extends StyleTransferError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_STORAGE', options);
  }
}
