/**
 * Job ids: random v4 UUIDs (122 random bits), so nobody can guess another user's job, and a strict
 * pattern so an id taken from a URL can never name anything but a job folder (no `..`, no `/`).
 */
import { randomUUID } from 'node:crypto';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function newJobId(): string {
  return randomUUID();
}

export function isJobId(value: string): boolean {
  return typeof value === 'string' && JOB_ID.test(value);
}
