/**
 * Progress of a run as typed events, delivered through StylizeOptions.onProgress (a union on `type`,
 * like transformers.js's ProgressInfo and crowsonkb's STIterate).
 */
import type { RawImage } from './image/image.js';

export interface LossValues {
  /** α·content + β·Σ wₗ·styleₗ + tv weight · TV */
  readonly loss: number;
  /** Σ over content layers of the unweighted content loss. */
  readonly content: number;
  /** Σₗ wₗ·styleₗ (layer weights applied, β not). */
  readonly style: number;
  /** Unweighted total variation. */
  readonly tv: number;
}

export type ProgressEvent =
  | { readonly type: 'loading'; readonly stage: 'weights' | 'images' | 'engine'; readonly message: string }
  | { readonly type: 'download'; readonly url: string; readonly received: number; readonly total: number | undefined }
  | {
      readonly type: 'scale';
      /** 1-based index of the scale. */
      readonly scale: number;
      readonly scales: number;
      readonly width: number;
      readonly height: number;
      readonly iterations: number;
      /** Tiles each evaluation's backward pass runs in (src/engine/tiled-engine.ts); 1 or absent: the scale runs untiled. */
      readonly tiles?: number;
    }
  | (LossValues & {
      readonly type: 'iteration';
      readonly scale: number;
      readonly scales: number;
      readonly width: number;
      readonly height: number;
      /** 1-based; the loss terms are those of the image before this iteration's update. */
      readonly iteration: number;
      readonly iterations: number;
      /** Milliseconds this iteration took (all its evaluations). */
      readonly ms: number;
      /** Network evaluations this iteration took (a line search may take several); absent where unknown. */
      readonly evaluations?: number;
      /** Seconds since the run started. */
      readonly elapsed: number;
      /** Estimated seconds left, from the measured speed. */
      readonly eta: number;
      /** The current image (after this iteration's update), rendered on demand. */
      readonly preview: () => RawImage;
    })
  | {
      /** Large scales run in tiles (src/engine/tiled-engine.ts): one event before each tile. */
      readonly type: 'tile';
      readonly scale: number;
      readonly scales: number;
      readonly width: number;
      readonly height: number;
      /** The iteration being computed (1-based); 0 while the scale's targets are computed; iterations + 1 for the output's own loss at the end. */
      readonly iteration: number;
      readonly iterations: number;
      /** 'sums': the forward pass over the tiles (loss, Gram matrices); 'gradient': the backward one; 'targets': the content and style targets. */
      readonly pass: 'sums' | 'gradient' | 'targets';
      /** 1-based */
      readonly tile: number;
      readonly tiles: number;
    }
  | { readonly type: 'done'; readonly seconds: number; readonly iterations: number };

/** An iteration event. */
export type IterationProgress = Extract<ProgressEvent, { type: 'iteration' }>;
/** An iteration event as it crosses a process, thread or network boundary: without the preview renderer. */
export type IterationWire = Omit<IterationProgress, 'preview'>;
