/**
 * How long a job would take on this server, before it is started (the page shows it next to the
 * Start button): the job's cost in the progress ETA's units (work.ts runCost) times this server's
 * speed, measured on the newest job it finished (its seconds over its own cost). So the estimate
 * follows the machine, its load, and any worker machines, with no calibration run; a server that
 * has finished no job yet says it cannot tell.
 */
import { resolveTuning } from '../options.js';
import { planWork, runCost, type WorkPlan } from '../work.js';
import type { JobView } from './events.js';

export interface JobEstimate {
  /** Seconds the job would take; null before this server has finished a job. */
  seconds: number | null;
  /** When the job the speed comes from finished (not its id: that is its owner's key to it). */
  measuredAt?: string;
  scales: { width: number; height: number; iterations: number }[];
}

/** The speed of the newest finished job, in ms per cost unit; undefined if none finished. */
export function measuredSpeed(jobs: readonly JobView[]): { msPerUnit: number; job: JobView } | undefined {
  const done = jobs.filter((j) => j.status === 'done' && typeof j.seconds === 'number' && j.seconds > 0);
  done.sort((a, b) => (Date.parse(b.finishedAt ?? b.createdAt) || 0) - (Date.parse(a.finishedAt ?? a.createdAt) || 0));
  for (const job of done) {
    try {
      const opts = resolveTuning(job.options, job.styles.length);
      const cost = runCost(planWork(job.content, opts), opts);
      if (cost > 0) return { msPerUnit: (job.seconds! * 1000) / cost, job };
    } catch {
      // A job recorded under other presets or limits: try an older one.
    }
  }
  return undefined;
}

export function estimateJob(plan: WorkPlan, opts: Parameters<typeof runCost>[1], jobs: readonly JobView[]): JobEstimate {
  const scales = plan.scales.map((s, k) => ({ width: s.width, height: s.height, iterations: plan.perScale[k] }));
  const speed = measuredSpeed(jobs);
  if (!speed) return { seconds: null, scales };
  return {
    seconds: Math.round((runCost(plan, opts) * speed.msPerUnit) / 100) / 10,
    measuredAt: speed.job.finishedAt,
    scales,
  };
}
