/**
 * style-transfer: neural style transfer (Gatys et al., CVPR 2016) in TypeScript.
 * The public API: stylize(), its options and result types, progress events and errors.
 */
export { stylize, createStylizer, type StylizeResult, type Stylizer, type StylizerOptions, type StylizerStats } from './stylize.js';
export { createStylizerOn } from './stylizer.js';
export type { Platform, WeightsRequest } from './platform.js';
export {
  normaliseOptions,
  resolveTuning,
  OPTION_SPECS,
  PRESETS,
  DEFAULT_PRESET,
  type StylizeOptions,
  type ResolvedOptions,
  type TuningOptions,
  type ResolvedTuning,
  type Tuning,
  type PresetName,
  type OptimizerName,
  type ColourPreservation,
  type ImageSource,
  type InitSource,
} from './options.js';
export type { ProgressEvent, LossValues } from './progress.js';
export type { RawImage, PlanarImage } from './image/image.js';
export { decodeImage, decodeImageBytes, encodeImage, encodeImageBytes } from './image/io.js';
export { StyleTransferError, OptionError, ImageError, WeightsError, DownloadError, RunError, AbortError } from './errors.js';
export { estimatePeakBytes, type MemoryExtras } from './engine/memory.js';
export { planJob, type JobPlan } from './pipeline/plan.js';
