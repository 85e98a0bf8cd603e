/**
 * The settings form: the preset and main controls, the advanced options (left blank, the preset
 * decides: its value shows as the placeholder), the options JSON a job is started with, the start
 * button, and the "where to run" choice.
 */
import { scheduleEstimate } from './page-estimate';
import { presetValue, runsInBrowser, type Page } from './page';

/** Advanced options: left blank, the preset decides (its value shows as the placeholder). */
const ADVANCED: { key: string; label: string; step?: string }[] = [
  { key: 'optimizer', label: 'Optimiser' },
  { key: 'learningRate', label: 'Learning rate', step: 'any' },
  { key: 'contentWeight', label: 'Content weight', step: 'any' },
  { key: 'tvWeight', label: 'Smoothing (TV weight)', step: 'any' },
  { key: 'scaleIterations', label: 'Iterations per earlier scale (at most)', step: '10' },
  { key: 'tolerance', label: 'Stop an earlier scale below this loss decrease per iteration', step: 'any' },
  { key: 'startSize', label: 'First scale size', step: '16' },
  { key: 'sizeSide', label: 'Size measures which side' },
  { key: 'pooling', label: 'Pooling' },
  { key: 'styleScale', label: 'Style scale', step: '0.05' },
  { key: 'init', label: 'Start from' },
  { key: 'maskPropagation', label: 'Style regions at deeper layers' },
  { key: 'seed', label: 'Seed', step: '1' },
  { key: 'previewEvery', label: 'Preview every N iterations', step: '1' },
];

const PRESET_LABELS: Record<string, string> = {
  quality: "quality (L-BFGS, coarse to fine, the classic recipe's quality)",
  best: 'best (about a minute longer, lower errors still)',
  recipe: 'recipe (Adam, the seed recipe)',
};

function spec(page: Page, key: string) {
  return page.state.config.options.find((s) => s.key === key);
}

export function buildForm(page: Page): void {
  const { ui, state } = page;
  const presets = Object.keys(state.config.presets);
  ui.preset.replaceChildren(...presets.map((p) => new Option(PRESET_LABELS[p] ?? p, p)));
  ui.size.max = String(state.config.limits.maxSize);
  ui.iterations.max = String(state.config.limits.maxIterations);

  for (const { key, label, step } of ADVANCED) {
    const field = document.createElement('label');
    field.className = 'field';
    const name = document.createElement('span');
    name.textContent = label;
    const s = spec(page, key);
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
  applyPreset(page);
}

/** Put the preset's values into the main controls and as placeholders of the advanced ones. */
export function applyPreset(page: Page): void {
  const { ui, state } = page;
  const size = Math.min(Number(presetValue(page, 'size')), state.config.limits.maxSize);
  ui.size.value = String(size);
  ui.iterations.value = String(presetValue(page, 'iterations'));
  ui.preserveColors.value = String(presetValue(page, 'preserveColors') ?? 'none');
  ui.strength.value = '0';
  for (const control of ui.advanced.querySelectorAll<HTMLInputElement>('input[data-key]')) {
    const value = presetValue(page, control.dataset.key!);
    control.placeholder = value === undefined ? (control.dataset.key === 'seed' ? '0' : 'auto') : String(value);
  }
  // A blank select means "the preset's choice": name it.
  for (const control of ui.advanced.querySelectorAll<HTMLSelectElement>('select[data-key]')) {
    const key = control.dataset.key!;
    const value = key === 'init' ? 'content' : (presetValue(page, key) ?? spec(page, key)?.default);
    control.options[0].text = `default (${String(value)})`;
  }
  updateLabels(page);
}

export function updateLabels(page: Page): void {
  const { ui } = page;
  const chosen = ui.advanced.querySelector<HTMLSelectElement>('#opt-sizeSide')?.value || presetValue(page, 'sizeSide');
  const side = chosen === 'short' ? 'shorter side' : 'longer side';
  ui.sizeValue.textContent = `${ui.size.value} px, ${side}`;
  const factor = 10 ** Number(ui.strength.value);
  ui.strengthValue.textContent = `×${factor >= 10 ? factor.toFixed(0) : factor.toPrecision(2)}`;
}

/** The options JSON for a job: the preset, the main controls, and only the advanced fields that were filled in. */
export function collectOptions(page: Page): Record<string, unknown> {
  const { ui } = page;
  const options: Record<string, unknown> = { preset: ui.preset.value, size: Number(ui.size.value), iterations: Number(ui.iterations.value) };
  const strength = Number(ui.strength.value);
  if (strength !== 0) options.styleWeight = Number(presetValue(page, 'styleWeight')) * 10 ** strength;
  if (ui.preserveColors.value !== presetValue(page, 'preserveColors')) options.preserveColors = ui.preserveColors.value;
  for (const control of ui.advanced.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[data-key]')) {
    if (control.value === '') continue;
    const key = control.dataset.key!;
    const kind = key === 'previewEvery' ? 'int' : spec(page, key)?.kind;
    options[key] = kind === 'int' || kind === 'number' ? Number(control.value) : control.value;
  }
  return options;
}

export function updateStart(page: Page): void {
  const { ui, state } = page;
  const busy = state.current !== undefined && ui.cancel.disabled === false;
  const local = runsInBrowser(page);
  ui.start.disabled = !state.contentFile || state.styleFiles.length === 0 || busy || (local && !state.browser!.ready);
  ui.start.textContent = local ? `Start in this browser${state.browser!.startNote}` : 'Start';
  scheduleEstimate(page);
}

export function setBusy(page: Page, busy: boolean): void {
  page.ui.cancel.disabled = !busy;
  updateStart(page);
}

/** Show the "where to run" choice when both are possible, and the browser panel when the browser runs. */
export function applyWhere(page: Page): void {
  const { ui, state } = page;
  ui.where.hidden = !(state.browser && state.serverConfig);
  const local = runsInBrowser(page);
  ui.browserPanel.hidden = !local;
  ui.size.max = String(local ? Math.min(state.browser!.maxSize, Number(state.serverConfig?.limits.maxSize ?? Infinity)) : state.config.limits.maxSize);
  if (Number(ui.size.value) > Number(ui.size.max)) ui.size.value = ui.size.max;
  updateLabels(page);
  updateStart(page);
}
