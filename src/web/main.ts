/**
 * The page: pick images, tune, start a job, follow it over server-sent events (preview frames,
 * loss chart, ETA), cancel, download, and browse earlier results; or run the whole job in this
 * browser. Plain DOM, no framework. The state lives in one object (page.ts); the parts are
 * page-*.ts; this file is the start-up, as named steps.
 */
import { getConfig } from './api';
import { BrowserMode, localConfig } from './browser-mode';
import { applyPreset, applyWhere, buildForm, updateLabels, updateStart } from './page-form';
import { scheduleEstimate } from './page-estimate';
import { refreshGallery } from './page-gallery';
import { addContent, addStyles, dropZone, renderImages } from './page-images';
import { setupMasks } from './page-masks';
import { cancel, start } from './page-job';
import { $, createPage, showError, type Page } from './page';

/** A server answers /api/config; a static site (browser mode only) does not. */
async function connect(page: Page): Promise<void> {
  page.state.serverConfig = await getConfig().catch(() => undefined);
}

/** Browser mode: the weights manifest, the engines this browser offers. False when neither it nor a server can run a job. */
async function setUpBrowserMode(page: Page): Promise<boolean> {
  try {
    page.state.browser = await BrowserMode.create({
      panel: page.ui.browserPanel,
      status: $('weights-status'),
      bar: $('weights-bar'),
      file: $<HTMLInputElement>('weights-input'),
      engine: $('engine-status'),
      engineSelect: $<HTMLSelectElement>('engine-select'),
      onChange: () => updateStart(page),
    });
  } catch (err) {
    if (!page.state.serverConfig) {
      showError(page, `cannot run in this browser: ${(err as Error).message}`);
      return false;
    }
  }
  return true;
}

/** The form from the server's config, or the library's own (a static site has no gallery). */
function buildPage(page: Page): void {
  const { state } = page;
  state.config = state.serverConfig ?? localConfig(state.browser!.maxSize);
  buildForm(page);
  if (!state.serverConfig) document.querySelector<HTMLElement>('.gallery')!.hidden = true;
}

function wireControls(page: Page): void {
  const { ui } = page;
  ui.whereServer.addEventListener('change', () => applyWhere(page));
  ui.whereBrowser.addEventListener('change', () => applyWhere(page));
  applyWhere(page);
  dropZone(ui.contentDrop, ui.contentInput, (files) => addContent(page, files));
  dropZone(ui.styleDrop, ui.styleInput, (files) => addStyles(page, files));
  ui.preset.addEventListener('change', () => applyPreset(page));
  // Any option changed: the time estimate follows.
  ui.settings.addEventListener('input', () => scheduleEstimate(page));
  ui.settings.addEventListener('change', () => scheduleEstimate(page));
  ui.size.addEventListener('input', () => updateLabels(page));
  ui.advanced.addEventListener('change', () => updateLabels(page)); // the size's side
  ui.strength.addEventListener('input', () => updateLabels(page));
  ui.start.addEventListener('click', () => void start(page));
  ui.cancel.addEventListener('click', () => cancel(page));
}

async function main(): Promise<void> {
  const page = createPage();
  await connect(page);
  if (!(await setUpBrowserMode(page))) return;
  buildPage(page);
  wireControls(page);
  page.state.masks = setupMasks(page);
  renderImages(page);
  await refreshGallery(page);
}

void main();
