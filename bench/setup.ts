/**
 * Set-up cost of a job on a fresh Stylizer vs on one that already ran a job: the time from the
 * stylize() call to its first 'scale' event (images read, weights loaded, sessions built, for the
 * first job; only the images for the second). Small 128 px jobs, so set-up dominates.
 *
 *   npm run bench:setup [-- --json]
 */
import { parseArgs } from 'node:util';
import { createStylizer } from '../src/stylize.js';
import { sampleImage, weightsPath as weights } from './paths.js';

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, jobs: { type: 'string', default: '3' } } });

const stylizer = await createStylizer({ weights });
const rows: { job: number; setupMs: number; totalMs: number; weightLoads: number; sessionBuilds: number }[] = [];
for (let job = 1; job <= Number(values.jobs); job++) {
  const t0 = performance.now();
  let setupMs = Number.NaN;
  await stylizer.stylize({
    content: sampleImage('dog'),
    style: sampleImage('monet'),
    size: 128,
    iterations: 5,
    scaleIterations: 0,
    onProgress: (e) => {
      if (e.type === 'scale' && Number.isNaN(setupMs)) setupMs = performance.now() - t0;
    },
  });
  rows.push({ job, setupMs: Math.round(setupMs), totalMs: Math.round(performance.now() - t0), ...stylizer.stats });
}
await stylizer.close();
for (const r of rows) {
  if (values.json) console.log(JSON.stringify(r));
  else console.log(`job ${r.job}: set-up ${r.setupMs} ms, whole job ${r.totalMs} ms (weight loads so far ${r.weightLoads}, session builds ${r.sessionBuilds})`);
}
