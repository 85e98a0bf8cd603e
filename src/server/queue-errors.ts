/**
 * What a job queue (in-process today, Redis later) throws when it refuses a request. The queue knows
 * nothing of HTTP; the server maps each of these to a status code.
 */
export class QueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** No room for another job now; the client may try again later. */
export class QueueFullError extends QueueError {}

/** The queue is shutting down and takes no new jobs. */
export class QueueClosedError extends QueueError {}

/** The job has already finished, so it cannot be cancelled. */
export class JobFinishedError extends QueueError {}
