/** The time estimate next to Start (server mode): the server's guess for this job, a moment after the last change. */
import { estimateJob } from './api';
import { collectOptions } from './page-form';
import { formatSeconds, runsInBrowser, type Page } from './page';

/** Ask the server how long this job would take, a moment after the last change. */
export function scheduleEstimate(page: Page): void {
  const estimate = page.state.estimate;
  clearTimeout(estimate.timer);
  estimate.timer = setTimeout(() => void updateEstimate(page), 250);
}

async function updateEstimate(page: Page): Promise<void> {
  const { ui, state } = page;
  const seq = ++state.estimate.seq;
  if (runsInBrowser(page) || !state.serverConfig || !state.contentFile || !state.contentSize || state.styleFiles.length === 0) {
    ui.estimate.textContent = '';
    return;
  }
  let text: string;
  try {
    const e = await estimateJob(state.contentSize, state.styleFiles.length, collectOptions(page));
    const last = e.scales[e.scales.length - 1];
    const size = `${last.width}×${last.height}, ${e.scales.length} scale${e.scales.length === 1 ? '' : 's'}`;
    text =
      e.seconds === null
        ? `${size}. The time it takes shows once this server has finished a job.`
        : `${size}: about ${formatSeconds(e.seconds)} on this server (measured on the last job it finished), plus any wait in the queue.`;
    ui.estimate.dataset.seconds = String(e.seconds ?? '');
  } catch (err) {
    text = `This job would be refused: ${(err as Error).message}`;
    ui.estimate.dataset.seconds = '';
  }
  if (seq === state.estimate.seq) ui.estimate.textContent = text;
}
