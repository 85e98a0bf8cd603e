/**
 * End-to-end benchmark: the quality preset (or --preset) on dog × matisse at 512 px with the shared
 * weights. Prints the wall time, the final loss terms, and the recipe preset's loss of the result
 * measured at 224 px (the recipe's own yardstick, so presets can be compared on one scale); writes
 * the result and a sheet under out/.
 *
 *   npm run bench:stylize [-- --content dog --style matisse --size 512 --preset quality --json]
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sheetPanels, sheetTitle, writeSheet } from '../src/render/sheet.js';
import { StyleEngine } from '../src/engine/style-engine.js';
import { nodeBackend } from '../src/node/ort-backend.js';
import { toPlanar, type RawImage } from '../src/image/image.js';
import { encodeImage } from '../src/image/io.js';
import { fitShortSide, resizeRaw } from '../src/image/resize.js';
import { preprocess } from '../src/model/convention.js';
import { resolveWeights } from '../src/model/resolve.js';
import { PRESETS, type PresetName } from '../src/options.js';
import { stylize } from '../src/stylize.js';
import { repo, weightsPath as weights, sampleImage as image } from './paths.js';

const { values } = parseArgs({
  options: {
    content: { type: 'string', default: 'dog' },
    style: { type: 'string', default: 'matisse' },
    size: { type: 'string', default: '512' },
    preset: { type: 'string', default: 'quality' },
    json: { type: 'boolean', default: false },
    out: { type: 'string', default: 'out' },
  },
});

/** The recipe's loss (α = 1, β = 1e6, its layer weights, unnormalised Gram) of `result`, all at 224 px shorter side. */
async function recipeLoss(result: RawImage, content: RawImage, style: RawImage): Promise<{ loss: number; content: number; style: number }> {
  const recipe = PRESETS.recipe;
  const { net, weights: w } = await resolveWeights({ weights, model: 'vgg19-caffe-rgb' });
  const engine = await StyleEngine.create(nodeBackend(), net, w, {
    contentLayers: recipe.contentLayers,
    styleLayers: recipe.styleLayers,
    styleNormalisation: 'recipe',
    pooling: 'max',
  });
  try {
    const { width, height } = fitShortSide(content.width, content.height, recipe.size);
    const input = async (img: RawImage) => preprocess(toPlanar(await resizeRaw(img, width, height)).data, width * height, net.convention);
    const targets = {
      content: (await engine.targets(await input(content), width, height, { content: true, style: false })).content,
      gram: (await engine.targets(await input(style), width, height, { content: false, style: true })).gram,
    };
    const termWeights = {
      content: new Map([['conv4_2', recipe.contentWeight]]),
      style: new Map(recipe.styleLayers.map((l, i) => [l, recipe.styleWeight * recipe.styleLayerWeights[i]])),
      tv: 0,
    };
    const terms = await engine.evaluate(await input(result), width, height, targets, termWeights, new Float32Array(3 * width * height));
    const styleSum = recipe.styleLayers.reduce((s, l, i) => s + recipe.styleLayerWeights[i] * terms.style.get(l)!, 0);
    return { loss: terms.total, content: terms.content.get('conv4_2')!, style: styleSum };
  } finally {
    await engine.release();
  }
}

const preset = values.preset as PresetName;
const result = await stylize({
  preset,
  content: image(values.content!),
  style: image(values.style!),
  size: Number(values.size),
  weights,
  model: 'vgg19-caffe-rgb',
  onProgress: (e) => {
    if (!values.json && e.type === 'scale') console.log(`scale ${e.scale}/${e.scales}: ${e.width}x${e.height}, ${e.iterations} iterations`);
  },
});
await mkdir(path.join(repo, values.out!), { recursive: true });
const stem = path.join(repo, values.out!, `bench-${preset}-${values.content}-${values.style}-${values.size}`);
await encodeImage(result.image, `${stem}.png`);
await writeSheet(`${stem}-sheet.png`, sheetPanels(result.content, result.styles, result.image), {
  title: sheetTitle({ preset, width: result.width, height: result.height, iterations: result.iterations, seconds: result.seconds }),
});
const recipe = await recipeLoss(result.image, result.content, result.styles[0]);
const report = {
  preset,
  content: values.content,
  style: values.style,
  width: result.width,
  height: result.height,
  seconds: +result.seconds.toFixed(1),
  iterations: result.iterations,
  scales: result.scales.map((s) => `${s.width}x${s.height}`),
  loss: result.loss,
  recipeLossAt224: recipe,
  output: `${stem}.png`,
  sheet: `${stem}-sheet.png`,
};
if (values.json) console.log(JSON.stringify(report));
else console.log(JSON.stringify(report, null, 2));
