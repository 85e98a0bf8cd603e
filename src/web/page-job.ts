/**
 * A job, as the page follows it: a server job over server-sent events (replayed state first, then
 * live events until it ends), or a run in this browser's worker shown with the same preview,
 * chart, status and downloads. Start and cancel.
 */
import { cancelJob, createJob, eventsUrl, getJob, resultUrl, sheetUrl } from './api';
import { formatBytes } from '../format';
import type { LocalRunView } from './browser-mode';
import { refreshGallery } from './page-gallery';
import { collectOptions, setBusy, updateStart } from './page-form';
import { formatSeconds, runsInBrowser, setStatus, showError, type Page } from './page';
import { TERMINAL, type JobEvent, type JobView } from './types';

function showImage({ ui }: Page, url: string): void {
  ui.preview.src = url;
  ui.preview.hidden = false;
  ui.stageEmpty.hidden = true;
}

function showDownloads({ ui }: Page, id: string, available: boolean): void {
  ui.downloadResult.href = resultUrl(id, true);
  ui.downloadResult.download = ''; // the server names the file (a browser run sets its own name)
  ui.downloadSheet.href = sheetUrl(id, true);
  ui.downloadResult.hidden = !available;
  ui.downloadSheet.hidden = !available;
}

/** Clear the stage, the chart and the bar for a new job. */
function resetStage({ ui, chart }: Page): void {
  chart.set([]);
  ui.bar.style.width = '0%';
  ui.preview.hidden = true;
  ui.stageEmpty.hidden = false;
  ui.stageEmpty.textContent = 'Starting…';
}

/** Follow a job: replayed state first (history, preview, status), then live events until it ends. */
export function watch(page: Page, job: JobView): void {
  const { state, ui } = page;
  state.current?.events?.close();
  state.current = { id: job.id };
  resetStage(page);
  showDownloads(page, job.id, false);
  setBusy(page, !TERMINAL.has(job.status));

  const events = new EventSource(eventsUrl(job.id));
  state.current.events = events;
  const id = job.id;
  events.onmessage = (message) => {
    if (state.current?.id !== id) return events.close();
    onEvent(page, id, JSON.parse(message.data) as JobEvent);
  };
  events.onerror = () => {
    // The server ends the stream after the final status; anything else is a lost connection.
    if (events.readyState === EventSource.CLOSED && state.current?.id === id && !ui.cancel.disabled) setStatus(page, 'Lost the connection to the server.', 'failed');
  };
}

function onEvent(page: Page, id: string, e: JobEvent): void {
  const { ui, chart } = page;
  switch (e.type) {
    case 'status':
      if (e.status === 'queued') setStatus(page, `Waiting in the queue: position ${e.position ?? '?'}.`, 'queued');
      else if (e.status === 'running') setStatus(page, 'Running…', 'running');
      else finished(page, id, e.status, e.error, e.result ?? false);
      break;
    case 'loading':
      setStatus(page, `Preparing: ${e.message}…`, 'running');
      break;
    case 'download':
      setStatus(page, `Downloading the network: ${formatBytes(e.received)}${e.total ? ` of ${formatBytes(e.total)}` : ''}…`, 'running');
      break;
    case 'scale':
      ui.stageEmpty.textContent = `Optimising at ${e.width}×${e.height}…`;
      break;
    case 'history':
      chart.set(e.points);
      break;
    case 'iteration': {
      chart.add(e);
      const scale = e.scales > 1 ? `scale ${e.scale}/${e.scales} (${e.width}×${e.height}) · ` : `${e.width}×${e.height} · `;
      setStatus(page, `${scale}iteration ${e.iteration}/${e.iterations} · ${formatSeconds(e.elapsed)} elapsed · about ${formatSeconds(e.eta)} left`, 'running');
      ui.bar.style.width = `${Math.min(100, (100 * e.elapsed) / Math.max(e.elapsed + e.eta, 1e-9))}%`;
      break;
    }
    case 'preview':
      showImage(page, e.url);
      break;
    case 'done':
      setStatus(page, `Saving the result (${formatSeconds(e.seconds)}, ${e.iterations} iterations)…`, 'running');
      break;
  }
}

function finished(page: Page, id: string, status: string, error: string | undefined, result: boolean): void {
  const { ui, state } = page;
  state.current?.events?.close();
  setBusy(page, false);
  ui.bar.style.width = status === 'done' ? '100%' : ui.bar.style.width;
  if (result) showImage(page, `${resultUrl(id)}?t=${Date.now()}`);
  else if (ui.preview.hidden) ui.stageEmpty.textContent = 'No image.';
  showDownloads(page, id, result);
  const text: Record<string, string> = {
    done: 'Done.',
    cancelled: result ? 'Cancelled; the image as it was is kept.' : 'Cancelled.',
    interrupted: 'Interrupted: the server stopped during this run; its last preview is kept.',
    failed: `Failed: ${error ?? 'unknown error'}`,
  };
  setStatus(page, text[status] ?? status, status);
  if (status === 'failed' && error) showError(page, error);
  void refreshGallery(page);
  void getJob(id)
    .then((job) => {
      if (status !== 'done' || state.current?.id !== id) return;
      const p = job.progress;
      const size = p ? ` · ${p.width}×${p.height}` : '';
      setStatus(
        page,
        `Done${job.seconds !== undefined ? ` in ${formatSeconds(job.seconds)}` : ''}${size} · ${job.content.name} in the style of ${job.styles.map((s) => s.name).join(' + ')}`,
        'done',
      );
    })
    .catch(() => {});
}

export async function start(page: Page): Promise<void> {
  const { ui, state } = page;
  if (!state.contentFile || state.styleFiles.length === 0) return;
  showError(page, undefined);
  ui.start.disabled = true;
  if (runsInBrowser(page)) return startInBrowser(page);
  try {
    const job = await createJob(state.contentFile, state.styleFiles, collectOptions(page), await state.masks?.masks());
    watch(page, job);
  } catch (err) {
    showError(page, (err as Error).message);
    updateStart(page);
  }
}

/** A run in this browser's worker, shown with the same preview, chart, status and downloads as a server job. */
async function startInBrowser(page: Page): Promise<void> {
  const { ui, state } = page;
  state.current?.events?.close();
  state.current = { id: 'local' };
  resetStage(page);
  ui.downloadResult.hidden = true;
  ui.downloadSheet.hidden = true;
  setStatus(page, 'Starting in this browser…', 'running');
  setBusy(page, true);
  const view: LocalRunView = {
    event: (e) => state.current?.id === 'local' && onEvent(page, 'local', e),
    preview: (url) => state.current?.id === 'local' && showImage(page, url),
    finished: (status, r) => {
      setBusy(page, false);
      if (status === 'done') ui.bar.style.width = '100%';
      if (r.url) {
        showImage(page, r.url);
        ui.downloadResult.href = r.url;
        ui.downloadResult.download = `style-transfer-${state.contentFile?.name.replace(/\.[^.]*$/, '') ?? 'result'}-${Date.now().toString(36)}.png`;
        ui.downloadResult.hidden = false;
      } else if (ui.preview.hidden) ui.stageEmpty.textContent = 'No image.';
      if (status === 'done') setStatus(page, `Done in ${formatSeconds(r.seconds ?? 0)} · ${r.width}×${r.height} · in this browser`, 'done');
      else if (status === 'cancelled') setStatus(page, r.url ? 'Cancelled; the image as it was is kept.' : 'Cancelled.', 'cancelled');
      else {
        setStatus(page, `Failed: ${r.error ?? 'unknown error'}`, 'failed');
        showError(page, r.error);
      }
    },
  };
  let masks: Blob[] | undefined;
  try {
    masks = await state.masks?.masks();
  } catch (err) {
    view.finished('failed', { error: (err as Error).message });
    return;
  }
  state.browser!.run(state.contentFile!, state.styleFiles, collectOptions(page), view, masks);
}

export function cancel(page: Page): void {
  const { ui, state } = page;
  if (!state.current) return;
  ui.cancel.disabled = true;
  setStatus(page, 'Cancelling…', 'running');
  if (state.current.id === 'local') return state.browser?.cancel();
  cancelJob(state.current.id).catch((err: Error) => showError(page, err.message));
}
