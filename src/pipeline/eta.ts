/** Time left in a run, from the measured cost per pixel-iteration and the iterations still to run. */
import type { Size } from './plan.js';

export class EtaClock {
  private msPerPixel = 0;
  private samples = 0;
  constructor(
    private readonly scales: readonly Size[],
    private readonly iterationsAt: (k: number) => number,
  ) {}
  tick(k: number, ms: number): void {
    const px = this.scales[k].width * this.scales[k].height;
    this.samples++;
    // Running mean weighted towards recent iterations (the first ones at a scale are slower).
    const rate = ms / px;
    this.msPerPixel = this.samples === 1 ? rate : 0.9 * this.msPerPixel + 0.1 * rate;
  }
  secondsLeft(k: number, i: number): number {
    let px = (this.iterationsAt(k) - i) * this.scales[k].width * this.scales[k].height;
    for (let j = k + 1; j < this.scales.length; j++) px += this.iterationsAt(j) * this.scales[j].width * this.scales[j].height;
    return (px * this.msPerPixel) / 1000;
  }
}
