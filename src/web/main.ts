/**
 * The page: pick images, tune, start a job, follow it over server-sent events (preview frames,
 * loss chart, ETA), cancel, download, and browse earlier results. Plain DOM, no framework.
 */
import { cancelJob, createJob, estimateJob, eventsUrl, getConfig, getJob, listJobs, resultUrl, sheetUrl } from './api';
import { formatBytes } from '../format';
import { BrowserMode, localConfig, type LocalRunView } from './browser-mode';
import { LossChart } from './chart';
import { TERMINAL, type JobEvent, type JobView, type ServerConfig } from './types';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  contentInput: $<HTMLInputElement>('content-input'),
  styleInput: $<HTMLInputElement>('style-input'),
  contentDrop: $('content-drop'),
  styleDrop: $('style-drop'),
  contentThumbs: $('content-thumbs'),
  styleThumbs: $('style-thumbs'),
  preset: $<HTMLSelectElement>('preset'),
  size: $<HTMLInputElement>('size'),
  sizeValue: $<HTMLOutputElement>('size-value'),
  strength: $<HTMLInputElement>('strength'),
  strengthValue: $<HTMLOutputElement>('strength-value'),
  iterations: $<HTMLInputElement>('iterations'),
  preserveColors: $<HTMLSelectElement>('preserveColors'),
  advanced: $('advanced'),
  start: $<HTMLButtonElement>('start'),
  cancel: $<HTMLButtonElement>('cancel'),
  estimate: $('estimate'),
  error: $('error'),
  preview: $<HTMLImageElement>('preview'),
  stageEmpty: $('stage-empty'),
  bar: $('bar'),
  status: $('status'),
  downloadResult: $<HTMLAnchorElement>('download-result'),
  downloadSheet: $<HTMLAnchorElement>('download-sheet'),
  gallery: $('gallery'),
  where: $('where'),
  whereBrowser: $<HTMLInputElement>('where-browser'),
  whereServer: $<HTMLInputElement>('where-server'),
};

const chart = new LossChart($<HTMLCanvasElement>('chart'));

/** Advanced options: left blank, the preset decides (its value shows as the placeholder). */
const ADVANCED: { key: string; label: string; step?: string }[] = [
  { key: 'optimizer', label: 'Optimiser' },
  { key: 'learningRate', label: 'Learning rate', step: 'any' },
  { key: 'contentWeight', label: 'Content weight', step: 'any' },
  { key: 'tvWeight', label: 'Smoothing (TV weight)', step: 'any' },
  { key: 'scaleIterations', label: 'Iterations per earlier scale (at most)', step: '10' },
  { key: 'tolerance', label: 'Stop an earlier scale below this loss decrease per iteration', step: 'any' },
  { key: 'startSize', label: 'First scale size', step: '16' },
  { key: 'pooling', label: 'Pooling' },
  { key: 'styleScale', label: 'Style scale', step: '0.05' },
  { key: 'init', label: 'Start from' },
  { key: 'seed', label: 'Seed', step: '1' },
  { key: 'previewEvery', label: 'Preview every N iterations', step: '1' },
];

let config: ServerConfig;
let contentFile: File | undefined;
/** The content picture's size as displayed (EXIF orientation applied), for the time estimate. */
let contentSize: { width: number; height: number } | undefined;
let styleFiles: File[] = [];
let current: { id: string; events?: EventSource } | undefined;
/** Browser mode (undefined until set up); `serverConfig` is undefined when no server answers (a static site). */
let browser: BrowserMode | undefined;
let serverConfig: ServerConfig | undefined;

const runsInBrowser = () => browser !== undefined && (serverConfig === undefined || ui.whereBrowser.checked);

function showError(message: string | undefined): void {
  ui.error.textContent = message ?? '';
  ui.error.hidden = !message;
}

function presetValue(key: string): unknown {
  return config.presets[ui.preset.value]?.[key];
}

// ---------------------------------------------------------------- images

function thumb(file: File, onRemove: () => void): HTMLElement {
  const figure = document.createElement('figure');
  figure.className = 'thumb';
  const img = document.createElement('img');
  img.src = URL.createObjectURL(file);
  img.alt = file.name;
  img.onload = () => URL.revokeObjectURL(img.src);
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'remove';
  remove.title = `Remove ${file.name}`;
  remove.textContent = '×';
  remove.onclick = onRemove;
  const caption = document.createElement('figcaption');
  caption.textContent = file.name;
  figure.append(img, remove, caption);
  return figure;
}

function renderImages(): void {
  ui.contentThumbs.replaceChildren(...(contentFile ? [thumb(contentFile, () => ((contentFile = undefined), renderImages()))] : []));
  ui.styleThumbs.replaceChildren(
    ...styleFiles.map((f, i) =>
      thumb(f, () => {
        styleFiles = styleFiles.filter((_, j) => j !== i);
        renderImages();
      }),
    ),
  );
  ui.contentDrop.classList.toggle('filled', !!contentFile);
  ui.styleDrop.classList.toggle('filled', styleFiles.length > 0);
  updateStart();
}

function addContent(files: FileList | File[]): void {
  // Any file: the server decodes it and explains what is wrong with one that is not an image.
  const image = [...files][0];
  if (image) {
    contentFile = image;
    contentSize = undefined;
    createImageBitmap(image)
      .then((bitmap) => {
        if (contentFile === image) contentSize = { width: bitmap.width, height: bitmap.height };
        bitmap.close();
        scheduleEstimate();
      })
      .catch(() => undefined); // not an image: the server says so when the job is started
  }
  renderImages();
}

// ---------------------------------------------------------------- the time estimate (server mode)

let estimateTimer: ReturnType<typeof setTimeout> | undefined;
let estimateSeq = 0;

/** Ask the server how long this job would take, a moment after the last change. */
function scheduleEstimate(): void {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(() => void updateEstimate(), 250);
}

async function updateEstimate(): Promise<void> {
  const seq = ++estimateSeq;
  if (runsInBrowser() || !serverConfig || !contentFile || !contentSize || styleFiles.length === 0) {
    ui.estimate.textContent = '';
    return;
  }
  let text: string;
  try {
    const e = await estimateJob(contentSize, styleFiles.length, collectOptions());
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
  if (seq === estimateSeq) ui.estimate.textContent = text;
}

function addStyles(files: FileList | File[]): void {
  const room = config.limits.maxStyles - styleFiles.length;
  const incoming = [...files];
  if (incoming.length > room) showError(`at most ${config.limits.maxStyles} style images; kept the first ${room > 0 ? room : 0} of these`);
  styleFiles = [...styleFiles, ...incoming.slice(0, Math.max(0, room))];
  renderImages();
}

function dropZone(zone: HTMLElement, input: HTMLInputElement, add: (files: FileList | File[]) => void): void {
  input.addEventListener('change', () => {
    if (input.files) add(input.files);
    input.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    if (e.dataTransfer?.files.length) add(e.dataTransfer.files);
  });
}

// ---------------------------------------------------------------- settings

function spec(key: string) {
  return config.options.find((s) => s.key === key);
}

function buildForm(): void {
  const presets = Object.keys(config.presets);
  ui.preset.replaceChildren(
    ...presets.map(
      (p) =>
        new Option(
          p === 'quality'
            ? 'quality (L-BFGS, coarse to fine)'
            : p === 'best'
              ? "best (slower, the classic recipe's quality)"
              : p === 'recipe'
                ? 'recipe (Adam, the seed recipe)'
                : p,
          p,
        ),
    ),
  );
  ui.size.max = String(config.limits.maxSize);
  ui.iterations.max = String(config.limits.maxIterations);

  for (const { key, label, step } of ADVANCED) {
    const field = document.createElement('label');
    field.className = 'field';
    const name = document.createElement('span');
    name.textContent = label;
    const s = spec(key);
    name.title = s?.doc ?? (key === 'previewEvery' ? 'write a preview frame every N iterations (default: about once a second)' : '');
    let control: HTMLInputElement | HTMLSelectElement;
    const choices = key === 'init' ? ['content', 'noise', 'style'] : s?.choices;
    if (choices) {
      control = document.createElement('select');
      control.append(new Option('preset default', ''), ...choices.map((c) => new Option(c, c)));
    } else {
      control = document.createElement('input');
      control.type = 'number';
      control.step = step ?? 'any';
      if (s?.min !== undefined) control.min = String(s.min);
      if (s?.max !== undefined) control.max = String(s.max);
      if (key === 'previewEvery') control.min = '1';
    }
    control.id = `opt-${key}`;
    control.dataset.key = key;
    field.append(name, control);
    ui.advanced.append(field);
  }
  applyPreset();
}

/** Put the preset's values into the main controls and as placeholders of the advanced ones. */
function applyPreset(): void {
  const size = Math.min(Number(presetValue('size')), config.limits.maxSize);
  ui.size.value = String(size);
  ui.iterations.value = String(presetValue('iterations'));
  ui.preserveColors.value = String(presetValue('preserveColors') ?? 'none');
  ui.strength.value = '0';
  for (const control of ui.advanced.querySelectorAll<HTMLInputElement>('input[data-key]')) {
    const value = presetValue(control.dataset.key!);
    control.placeholder = value === undefined ? (control.dataset.key === 'seed' ? '0' : 'auto') : String(value);
  }
  // A blank select means "the preset's choice": name it.
  for (const control of ui.advanced.querySelectorAll<HTMLSelectElement>('select[data-key]')) {
    const value = control.dataset.key === 'init' ? 'content' : presetValue(control.dataset.key!);
    control.options[0].text = `default (${String(value)})`;
  }
  updateLabels();
}

function updateLabels(): void {
  const side = presetValue('sizeSide') === 'short' ? 'shorter side' : 'longer side';
  ui.sizeValue.textContent = `${ui.size.value} px, ${side}`;
  const factor = 10 ** Number(ui.strength.value);
  ui.strengthValue.textContent = `×${factor >= 10 ? factor.toFixed(0) : factor.toPrecision(2)}`;
}

/** The options JSON for a job: the preset, the main controls, and only the advanced fields that were filled in. */
function collectOptions(): Record<string, unknown> {
  const options: Record<string, unknown> = { preset: ui.preset.value, size: Number(ui.size.value), iterations: Number(ui.iterations.value) };
  const strength = Number(ui.strength.value);
  if (strength !== 0) options.styleWeight = Number(presetValue('styleWeight')) * 10 ** strength;
  if (ui.preserveColors.value !== presetValue('preserveColors')) options.preserveColors = ui.preserveColors.value;
  for (const control of ui.advanced.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-key]')) {
    if (control.value === '') continue;
    const key = control.dataset.key!;
    const kind = key === 'previewEvery' ? 'int' : spec(key)?.kind;
    options[key] = kind === 'int' || kind === 'number' ? Number(control.value) : control.value;
  }
  return options;
}

function updateStart(): void {
  const busy = current !== undefined && ui.cancel.disabled === false;
  const local = runsInBrowser();
  ui.start.disabled = !contentFile || styleFiles.length === 0 || busy || (local && !browser!.ready);
  ui.start.textContent = local ? `Start in this browser${browser!.startNote}` : 'Start';
  scheduleEstimate();
}

// ---------------------------------------------------------------- a job

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function setStatus(text: string, state?: string): void {
  ui.status.textContent = text;
  ui.status.dataset.state = state ?? '';
}

function setBusy(busy: boolean): void {
  ui.cancel.disabled = !busy;
  updateStart();
}

function showImage(url: string): void {
  ui.preview.src = url;
  ui.preview.hidden = false;
  ui.stageEmpty.hidden = true;
}

function showDownloads(id: string, available: boolean): void {
  ui.downloadResult.href = resultUrl(id, true);
  ui.downloadResult.download = ''; // the server names the file (a browser run sets its own name)
  ui.downloadSheet.href = sheetUrl(id, true);
  ui.downloadResult.hidden = !available;
  ui.downloadSheet.hidden = !available;
}

/** Follow a job: replayed state first (history, preview, status), then live events until it ends. */
function watch(job: JobView): void {
  current?.events?.close();
  current = { id: job.id };
  chart.set([]);
  ui.bar.style.width = '0%';
  ui.preview.hidden = true;
  ui.stageEmpty.hidden = false;
  ui.stageEmpty.textContent = 'Starting…';
  showDownloads(job.id, false);
  setBusy(!TERMINAL.has(job.status));

  const events = new EventSource(eventsUrl(job.id));
  current.events = events;
  const id = job.id;
  events.onmessage = (message) => {
    if (current?.id !== id) return events.close();
    onEvent(id, JSON.parse(message.data) as JobEvent);
  };
  events.onerror = () => {
    // The server ends the stream after the final status; anything else is a lost connection.
    if (events.readyState === EventSource.CLOSED && current?.id === id && !ui.cancel.disabled) setStatus('Lost the connection to the server.', 'failed');
  };
}

function onEvent(id: string, e: JobEvent): void {
  switch (e.type) {
    case 'status':
      if (e.status === 'queued') setStatus(`Waiting in the queue: position ${e.position ?? '?'}.`, 'queued');
      else if (e.status === 'running') setStatus('Running…', 'running');
      else finished(id, e.status, e.error, e.result ?? false);
      break;
    case 'loading':
      setStatus(`Preparing: ${e.message}…`, 'running');
      break;
    case 'download':
      setStatus(`Downloading the network: ${formatBytes(e.received)}${e.total ? ` of ${formatBytes(e.total)}` : ''}…`, 'running');
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
      setStatus(`${scale}iteration ${e.iteration}/${e.iterations} · ${formatSeconds(e.elapsed)} elapsed · about ${formatSeconds(e.eta)} left`, 'running');
      ui.bar.style.width = `${Math.min(100, (100 * e.elapsed) / Math.max(e.elapsed + e.eta, 1e-9))}%`;
      break;
    }
    case 'preview':
      showImage(e.url);
      break;
    case 'done':
      setStatus(`Saving the result (${formatSeconds(e.seconds)}, ${e.iterations} iterations)…`, 'running');
      break;
  }
}

function finished(id: string, status: string, error: string | undefined, result: boolean): void {
  current?.events?.close();
  setBusy(false);
  ui.bar.style.width = status === 'done' ? '100%' : ui.bar.style.width;
  if (result) showImage(`${resultUrl(id)}?t=${Date.now()}`);
  else if (ui.preview.hidden) ui.stageEmpty.textContent = 'No image.';
  showDownloads(id, result);
  const text: Record<string, string> = {
    done: 'Done.',
    cancelled: result ? 'Cancelled; the image as it was is kept.' : 'Cancelled.',
    interrupted: 'Interrupted: the server stopped during this run; its last preview is kept.',
    failed: `Failed: ${error ?? 'unknown error'}`,
  };
  setStatus(text[status] ?? status, status);
  if (status === 'failed' && error) showError(error);
  void refreshGallery();
  void getJob(id)
    .then((job) => {
      if (status !== 'done' || current?.id !== id) return;
      const p = job.progress;
      const size = p ? ` · ${p.width}×${p.height}` : '';
      setStatus(
        `Done${job.seconds !== undefined ? ` in ${formatSeconds(job.seconds)}` : ''}${size} · ${job.content.name} in the style of ${job.styles.map((s) => s.name).join(' + ')}`,
        'done',
      );
    })
    .catch(() => {});
}

async function start(): Promise<void> {
  if (!contentFile || styleFiles.length === 0) return;
  showError(undefined);
  ui.start.disabled = true;
  if (runsInBrowser()) return startInBrowser();
  try {
    const job = await createJob(contentFile, styleFiles, collectOptions());
    watch(job);
  } catch (err) {
    showError((err as Error).message);
    updateStart();
  }
}

/** A run in this browser's worker, shown with the same preview, chart, status and downloads as a server job. */
function startInBrowser(): void {
  current?.events?.close();
  current = { id: 'local' };
  chart.set([]);
  ui.bar.style.width = '0%';
  ui.preview.hidden = true;
  ui.stageEmpty.hidden = false;
  ui.stageEmpty.textContent = 'Starting…';
  ui.downloadResult.hidden = true;
  ui.downloadSheet.hidden = true;
  setStatus('Starting in this browser…', 'running');
  setBusy(true);
  const view: LocalRunView = {
    event: (e) => current?.id === 'local' && onEvent('local', e),
    preview: (url) => current?.id === 'local' && showImage(url),
    finished: (status, r) => {
      setBusy(false);
      if (status === 'done') ui.bar.style.width = '100%';
      if (r.url) {
        showImage(r.url);
        ui.downloadResult.href = r.url;
        ui.downloadResult.download = `style-transfer-${contentFile?.name.replace(/\.[^.]*$/, '') ?? 'result'}-${Date.now().toString(36)}.png`;
        ui.downloadResult.hidden = false;
      } else if (ui.preview.hidden) ui.stageEmpty.textContent = 'No image.';
      if (status === 'done') setStatus(`Done in ${formatSeconds(r.seconds ?? 0)} · ${r.width}×${r.height} · in this browser`, 'done');
      else if (status === 'cancelled') setStatus(r.url ? 'Cancelled; the image as it was is kept.' : 'Cancelled.', 'cancelled');
      else {
        setStatus(`Failed: ${r.error ?? 'unknown error'}`, 'failed');
        showError(r.error);
      }
    },
  };
  browser!.run(contentFile!, styleFiles, collectOptions(), view);
}

/** Show the "where to run" choice when both are possible, and the browser panel when the browser runs. */
function applyWhere(): void {
  ui.where.hidden = !(browser && serverConfig);
  const local = runsInBrowser();
  $('browser-panel').hidden = !local;
  ui.size.max = String(local ? Math.min(browser!.maxSize, Number(serverConfig?.limits.maxSize ?? Infinity)) : config.limits.maxSize);
  if (Number(ui.size.value) > Number(ui.size.max)) ui.size.value = ui.size.max;
  updateLabels();
  updateStart();
}

// ---------------------------------------------------------------- gallery

async function refreshGallery(): Promise<void> {
  if (!serverConfig) return;
  let jobs: JobView[];
  try {
    jobs = await listJobs();
  } catch {
    return;
  }
  if (jobs.length === 0) return;
  ui.gallery.replaceChildren(
    ...jobs.slice(0, 48).map((job) => {
      const card = document.createElement('button');
      card.type = 'button';
      card.className = 'card';
      card.dataset.status = job.status;
      card.title = `${job.content.name} in the style of ${job.styles.map((s) => s.name).join(' + ')}`;
      if (job.result) {
        const img = document.createElement('img');
        img.loading = 'lazy';
        img.src = resultUrl(job.id);
        img.alt = card.title;
        card.append(img);
      } else {
        const empty = document.createElement('span');
        empty.className = 'card-empty';
        empty.textContent = job.status === 'queued' ? `#${job.position ?? ''} in queue` : job.status;
        card.append(empty);
      }
      const caption = document.createElement('span');
      caption.className = 'card-caption';
      caption.textContent = `${job.status} · ${new Date(job.createdAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })}`;
      card.append(caption);
      card.onclick = () => {
        showError(undefined);
        watch(job);
        window.scrollTo({ top: 0, behavior: 'smooth' });
      };
      return card;
    }),
  );
}

// ---------------------------------------------------------------- start-up

async function main(): Promise<void> {
  // A server answers /api/config; a static site (browser mode only) does not.
  serverConfig = await getConfig().catch(() => undefined);
  try {
    browser = await BrowserMode.create({
      panel: $('browser-panel'),
      status: $('weights-status'),
      bar: $('weights-bar'),
      file: $<HTMLInputElement>('weights-input'),
      engine: $('engine-status'),
      engineSelect: $<HTMLSelectElement>('engine-select'),
      onChange: () => updateStart(),
    });
  } catch (err) {
    if (!serverConfig) return showError(`cannot run in this browser: ${(err as Error).message}`);
  }
  config = serverConfig ?? localConfig(browser!.maxSize);
  buildForm();
  if (!serverConfig) document.querySelector<HTMLElement>('.gallery')!.hidden = true;
  ui.whereServer.addEventListener('change', applyWhere);
  ui.whereBrowser.addEventListener('change', applyWhere);
  applyWhere();
  dropZone(ui.contentDrop, ui.contentInput, addContent);
  dropZone(ui.styleDrop, ui.styleInput, addStyles);
  ui.preset.addEventListener('change', applyPreset);
  // Any option changed: the time estimate follows.
  $('settings').addEventListener('input', scheduleEstimate);
  $('settings').addEventListener('change', scheduleEstimate);
  ui.size.addEventListener('input', updateLabels);
  ui.strength.addEventListener('input', updateLabels);
  ui.start.addEventListener('click', () => void start());
  ui.cancel.addEventListener('click', () => {
    if (!current) return;
    ui.cancel.disabled = true;
    setStatus('Cancelling…', 'running');
    if (current.id === 'local') return browser?.cancel();
    cancelJob(current.id).catch((err: Error) => showError(err.message));
  });
  renderImages();
  await refreshGallery();
}

void main();
