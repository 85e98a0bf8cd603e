/** Time left in a run, from the measured cost per pixel-iteration and the iterations still to run. */
import type { Size } from './plan.js';

export class EtaClock {
  private msPerPixel = 0;
  private samples = 0;
  /** `costAt(k)`: the cost of scale k's iterations per pixel relative to an untiled one (tiles recompute their halos). */
  constructor(
    private readonly scales: readonly Size[],
    private readonly iterationsAt: (k: number) => number,
    private readonly costAt: (k: number) => number = () => 1,
  ) {}
  tick(k: number, ms: number): void {
    const px = this.scales[k].width * this.scales[k].height * this.costAt(k);
    this.samples++;
    // Running mean weighted towards recent iterations (the first ones at a scale are slower).
    const rate = ms / px;
    this.msPerPixel = this.samples === 1 ? rate : 0.9 * this.msPerPixel + 0.1 * rate;
  }
  secondsLeft(k: number, i: number): number {
    const cost = (j: number) => this.scales[j].width * this.scales[j].height * this.costAt(j);
    let px = (this.iterationsAt(k) - i) * cost(k);
    for (let j = k + 1; j < this.scales.length; j++) px += this.iterationsAt(j) * cost(j);
    return (px * this.msPerPixel) / 1000;
  }
}
