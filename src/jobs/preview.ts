/**
 * Preview frames of a running job. The optimiser must not wait for PNG encoding, so frames are
 * rendered synchronously (the library's preview() copies the current image) and written in the
 * background; when frames come faster than they can be written, only the newest is kept.
 */
import type { RawImage } from '../image/image.js';
import { encodeImageBytes } from '../image/io.js';

export interface PreviewPolicy {
  /** A frame every this many iterations; undefined: time-based. */
  every?: number;
  /** Time-based: at most one frame per this many milliseconds. */
  intervalMs: number;
}

export class PreviewWriter {
  private pending: RawImage | undefined;
  private writing: Promise<void> | undefined;
  private lastOffered = -Infinity;
  private version = 0;
  private failure: unknown;

  constructor(
    private readonly policy: PreviewPolicy,
    /** Stores the encoded frame; called with version 1, 2, … */
    private readonly write: (png: Uint8Array, version: number) => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Called for each iteration. `last` marks the final iteration of a scale, whose frame is always
   * kept (so the preview ends on the image the scale finished with).
   */
  offer(iteration: number, last: boolean, render: () => RawImage): void {
    const due = this.policy.every !== undefined ? iteration % this.policy.every === 0 : this.now() - this.lastOffered >= this.policy.intervalMs;
    if (!due && !last) return;
    this.lastOffered = this.now();
    this.pending = render();
    this.writing ??= this.drain();
  }

  /** Resolves when every offered frame has been written (or dropped for a newer one); rejects if a write failed. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes frames until none is pending. Never rejects (nobody awaits it): a failure is kept for idle(). */
  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        const frame = this.pending;
        this.pending = undefined;
        const png = await encodeImageBytes(frame, 'png');
        await this.write(png, ++this.version);
      }
    } catch (err) {
      this.pending = undefined;
      this.failure ??= err;
    } finally {
      this.writing = undefined;
    }
  }
}
