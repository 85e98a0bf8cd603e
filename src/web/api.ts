/** The page's calls to the server; every failure becomes an Error carrying the server's one-line message. */
import type { JobView, ServerConfig } from './types';

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch {
    throw new Error('cannot reach the server; is `style-transfer serve` still running?');
  }
  const body = (await res.json().catch(() => undefined)) as { error?: string } | undefined;
  if (!res.ok) throw new Error(body?.error ?? `the server answered HTTP ${res.status}`);
  return body as T;
}

export const getConfig = () => call<ServerConfig>('api/config');

/** What a job would take on the server (GET /api/estimate): seconds null before the server has finished a job. */
export interface JobEstimate {
  seconds: number | null;
  measuredAt?: string;
  scales: { width: number; height: number; iterations: number }[];
}

export function estimateJob(content: { width: number; height: number }, styles: number, options: Record<string, unknown>): Promise<JobEstimate> {
  const query = new URLSearchParams({ width: String(content.width), height: String(content.height), styles: String(styles), options: JSON.stringify(options) });
  return call<JobEstimate>(`api/estimate?${query.toString()}`);
}
export const listJobs = () => call<{ jobs: JobView[] }>('api/jobs').then((r) => r.jobs);
export const getJob = (id: string) => call<JobView>(`api/jobs/${id}`);
export const cancelJob = (id: string) => call<JobView>(`api/jobs/${id}`, { method: 'DELETE' });

/** `masks`: one grey image per style, in style order (spatial control), or none. */
export function createJob(content: File, styles: readonly File[], options: Record<string, unknown>, masks?: readonly Blob[]): Promise<JobView> {
  const form = new FormData();
  form.append('content', content, content.name);
  for (const s of styles) form.append('style', s, s.name);
  (masks ?? []).forEach((m, i) => form.append('styleMask', m, m instanceof File ? m.name : `mask-${i + 1}.png`));
  form.append('options', JSON.stringify(options));
  return call<JobView>('api/jobs', { method: 'POST', body: form });
}

export const resultUrl = (id: string, download = false) => `api/jobs/${id}/result${download ? '?download=1' : ''}`;
export const sheetUrl = (id: string, download = false) => `api/jobs/${id}/sheet${download ? '?download=1' : ''}`;
export const eventsUrl = (id: string) => `api/jobs/${id}/events`;
