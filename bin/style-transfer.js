#!/usr/bin/env node
// Runs the CLI: from the TypeScript sources through tsx in a checkout, else the compiled dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/entry.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/entry.js', import.meta.url).href);
}
