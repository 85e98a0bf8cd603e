/**
 * Total-variation smoothing (Mahendran & Vedaldi 2015; jcjohnson/neural-style's -tv_weight), not in
 * Gatys et al.: it suppresses the high-frequency noise the optimisation otherwise leaves behind.
 *   tv = (Σ (x[.., y, x+1] − x[.., y, x])² + Σ (x[.., y+1, x] − x[.., y, x])²) / numel(x)
 * computed on the image in the network's input space. Normalised by the pixel count so its weight
 * does not depend on the image size.
 *
 * Gradient of Σ d² with d_j = x_{j+1} − x_j:  ∂/∂x_j = 2 d_{j−1} − 2 d_j, i.e. 2·(pad_left(d) − pad_right(d)).
 */
import type { GraphBuilder } from '../engine/graph-builder.js';
import type { LossPart } from './content.js';

export function totalVariationGraph(g: GraphBuilder, image: string): LossPart {
  const big = 1 << 30; // Slice's "to the end"
  const diffAlong = (axis: 2 | 3) => {
    const tail = g.op('Slice', [image, g.ints([1]), g.ints([big]), g.ints([axis])]);
    const head = g.op('Slice', [image, g.ints([0]), g.ints([-1]), g.ints([axis])]);
    return g.sub(tail, head);
  };
  const dx = diffAlong(3);
  const dy = diffAlong(2);
  const count = g.sizeOf(image);
  const loss = g.div(g.add(g.sumAll(g.mul(dx, dx), 4), g.sumAll(g.mul(dy, dy), 4)), count);
  const twoOverCount = g.div(g.scalar(2), count);
  // pad_left(d) puts d_{j-1} at position j; pad_right(d) puts d_j at position j.
  const gx = g.sub(g.op('Pad', [dx, g.ints([0, 0, 0, 1, 0, 0, 0, 0])]), g.op('Pad', [dx, g.ints([0, 0, 0, 0, 0, 0, 0, 1])]));
  const gy = g.sub(g.op('Pad', [dy, g.ints([0, 0, 1, 0, 0, 0, 0, 0])]), g.op('Pad', [dy, g.ints([0, 0, 0, 0, 0, 0, 1, 0])]));
  const grad = g.mul(g.add(gx, gy), twoOverCount);
  return { loss, grad };
}
