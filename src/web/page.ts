/**
 * The page's one state object and its elements, and the small helpers every part of the page uses
 * (status line, error line, busy state). The parts (page-*.ts) are functions of this `Page`; main.ts
 * creates it and runs the start-up steps. Plain DOM, no framework.
 */
import type { BrowserMode } from './browser-mode';
import type { MaskPainter } from './page-masks';
import { LossChart } from './chart';
import type { ServerConfig } from './types';

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The elements the page drives, looked up once. */
export function pageElements() {
  return {
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
    browserPanel: $('browser-panel'),
    settings: $('settings'),
  };
}

export type PageElements = ReturnType<typeof pageElements>;

/** Everything the page remembers between events. */
export interface PageState {
  /** The form's config: the server's, or the library's own for a static site (set at start-up). */
  config: ServerConfig;
  /** undefined when no server answers (a static site: browser mode only). */
  serverConfig: ServerConfig | undefined;
  /** Browser mode (undefined when it cannot run here). */
  browser: BrowserMode | undefined;
  contentFile: File | undefined;
  /** The content picture's size as displayed (EXIF orientation applied), for the time estimate. */
  contentSize: { width: number; height: number } | undefined;
  styleFiles: File[];
  /** The paint layer of style regions (page-masks.ts), once set up. */
  masks?: MaskPainter;
  /** The job the page follows ('local' for a run in this browser). */
  current: { id: string; events?: EventSource } | undefined;
  /** The pending time-estimate request (server mode): its timer, and a counter that drops stale answers. */
  estimate: { timer: ReturnType<typeof setTimeout> | undefined; seq: number };
}

export interface Page {
  readonly ui: PageElements;
  readonly chart: LossChart;
  readonly state: PageState;
}

export function createPage(): Page {
  return {
    ui: pageElements(),
    chart: new LossChart($<HTMLCanvasElement>('chart')),
    state: {
      config: undefined as unknown as ServerConfig,
      serverConfig: undefined,
      browser: undefined,
      contentFile: undefined,
      contentSize: undefined,
      styleFiles: [],
      current: undefined,
      estimate: { timer: undefined, seq: 0 },
    },
  };
}

export const runsInBrowser = ({ state, ui }: Page) => state.browser !== undefined && (state.serverConfig === undefined || ui.whereBrowser.checked);

export function showError({ ui }: Page, message: string | undefined): void {
  ui.error.textContent = message ?? '';
  ui.error.hidden = !message;
}

export function presetValue({ state, ui }: Page, key: string): unknown {
  return (state.config.presets[ui.preset.value] as Readonly<Record<string, unknown>> | undefined)?.[key];
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function setStatus({ ui }: Page, text: string, state?: string): void {
  ui.status.textContent = text;
  ui.status.dataset.state = state ?? '';
}
