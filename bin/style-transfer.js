#!/usr/bin/env node
// Runs the CLI: from the TypeScript sources through tsx in a checkout, else the compiled dist/.
// First it starts itself again with huge pages for the engine's memory where it has none
// (src/node/huge-pages.ts: fewer page faults and TLB misses on Linux).
import { existsSync } from 'node:fs';

const checkout = existsSync(new URL('../src/cli/entry.ts', import.meta.url));
if (checkout) {
  const { register } = await import('tsx/esm/api');
  register();
}
const module = (name) => new URL(checkout ? `../src/${name}.ts` : `../dist/src/${name}.js`, import.meta.url).href;
const { relaunchWithHugePages } = await import(module('node/huge-pages'));
if (!(await relaunchWithHugePages({ ownGroup: true }))) await import(module('cli/entry'));
