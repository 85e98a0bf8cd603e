/**
 * Errors of the job system that its callers tell apart: the server maps each to a status code
 * (src/server/http-error.ts), the worker to a refused or failed job.
 */

/** A job this server does not take as asked: its options are malformed or past a limit (the server answers 400). */
export class JobRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobRefusedError';
  }
}
