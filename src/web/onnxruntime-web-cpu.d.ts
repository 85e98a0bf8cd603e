/**
 * Types for `#onnxruntime-web-cpu` (package.json "imports"): onnxruntime-web's CPU build. In a
 * browser bundle that is `onnxruntime-web/wasm`, the wasm-only build (a 14 MB .wasm; the default
 * entry's build also carries the WebGPU provider in a 28 MB one (JSEP), which the CPU path never uses);
 * in Node (the wasm parity test) it is the package's Node entry, the same wasm. The package
 * declares its subpaths as ambient modules, so this file re-exports them for the subpath import.
 */
export * from 'onnxruntime-web';
