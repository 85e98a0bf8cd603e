/** Debian's Chromium, as the browser tests start it. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless with WebGPU: `--enable-unsafe-webgpu` is all it takes here (checked with Chromium 150):
 * on a machine without a GPU the adapter is SwiftShader (vendor "google", architecture
 * "swiftshader"), Chromium's Vulkan on the CPU, and a device is granted; neither
 * `--use-webgpu-adapter=swiftshader` nor `--enable-features=Vulkan` changes that. No `--disable-gpu`.
 */
export const WEBGPU_ARGS = ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking'];
