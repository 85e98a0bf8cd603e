/**
 * Nothing of Node reaches the browser: the page and its worker built with the project's Vite config
 * (the shared build, test/web/site-build.ts, which lists every module that ends up in a chunk).
 * node:* built-ins (which Vite would replace by an empty "browser external" stub), sharp and
 * onnxruntime-node must not be among them, while the core pipeline and onnxruntime-web (both its
 * builds: the wasm-only one for the CPU, the WebGPU one) must (so the check is not vacuous). The
 * package's default build must not: its 27 MB .wasm carries a WebGPU provider the CPU path never
 * uses, where the wasm-only build's is 14 MB (package.json "imports", #onnxruntime-web-cpu).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bundledModules } from './site-build.js';

test('the page and its worker bundle no Node module (node:*, sharp, onnxruntime-node)', async () => {
  const { page: pageIds, worker: workerIds } = await bundledModules();
  for (const expected of ['src/web/worker.ts', 'src/stylizer.ts', 'src/engine/loss-graph.ts', 'src/optim/lbfgs.ts', 'src/web/webgpu.ts']) {
    assert.ok(workerIds.includes(expected), `the worker bundle should contain ${expected}; it has ${workerIds.length} modules`);
  }
  assert.ok(
    workerIds.some((id) => /onnxruntime-web\/dist\/ort\.wasm\.bundle/.test(id)),
    "the worker bundles onnxruntime-web's wasm-only build",
  );
  assert.ok(!workerIds.some((id) => /onnxruntime-web\/dist\/ort\.bundle/.test(id)), "the worker does not bundle onnxruntime-web's default build");
  assert.ok(
    workerIds.some((id) => /onnxruntime-web\/dist\/ort\.webgpu\.bundle/.test(id)),
    "the worker bundles onnxruntime-web's WebGPU build",
  );
  assert.ok(pageIds.includes('src/web/main.ts'));
  const nodeOnly = /(^|\/|\0)node:|__vite-browser-external|node_modules\/(sharp|@img|onnxruntime-node)\//;
  for (const [name, ids] of [
    ['worker', workerIds],
    ['page', pageIds],
  ] as const) {
    const bad = ids.filter((id) => nodeOnly.test(id));
    assert.deepEqual(bad, [], `Node-only modules in the ${name} bundle`);
  }
});
