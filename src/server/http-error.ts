/**
 * How errors become HTTP responses: an HttpError says its own status; the job system's and the
 * library's errors are mapped here (errorResponse), so none of them knows of HTTP.
 */
import { OptionError, ImageError, StyleTransferError, firstLine } from '../errors.js';
import { JobRefusedError, StorageFullError } from '../jobs/errors.js';
import { JobStateError, QueueClosedError, QueueError, QueueFullError } from '../queue/errors.js';

/** Seconds a client refused for load is told to wait. */
export const RETRY_AFTER_SECONDS = 5;

/** An error that becomes an HTTP response `{"error": message}` with the given status code (and headers, e.g. Retry-After). */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  constructor(statusCode: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.headers = headers;
  }
}

/** Map any error to a status code, a one-line message for `{"error": …}`, and headers. */
export function errorResponse(error: Error & { statusCode?: number; code?: string }): { status: number; message: string; headers?: Record<string, string> } {
  if (error instanceof HttpError) return { status: error.statusCode, message: error.message, headers: error.headers };
  const retry = { 'Retry-After': String(RETRY_AFTER_SECONDS) };
  if (error instanceof QueueError) {
    const status = error instanceof QueueFullError ? 429 : error instanceof QueueClosedError ? 503 : error instanceof JobStateError ? 409 : 400;
    return { status, message: error.message, headers: status === 429 || status === 503 ? retry : undefined };
  }
  if (error instanceof StorageFullError) return { status: 507, message: error.message, headers: retry };
  if (error instanceof OptionError || error instanceof JobRefusedError) return { status: 400, message: error.message };
  if (error instanceof ImageError) return { status: 422, message: error.message };
  if (error instanceof StyleTransferError) return { status: 400, message: error.message };
  switch (error.code) {
    case 'FST_FILES_LIMIT':
    case 'FST_PARTS_LIMIT':
      return { status: 400, message: 'too many files or form fields in one request' };
    case 'FST_FIELDS_LIMIT':
      return { status: 400, message: 'too many form fields; expected content, style, styleMask and options' };
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, message: 'an uploaded file is larger than the limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, message: 'unsupported content type; send multipart/form-data' };
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
    case 'FST_PROTO_VIOLATION':
      return { status: 400, message: 'the upload is not a valid multipart form' };
  }
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
  return { status, message: status >= 500 ? 'internal server error' : firstLine(error) };
}
