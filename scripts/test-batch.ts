/**
 * Runs several small test files in one process (scripts/test.ts: BATCHED): each file is imported,
 * so its node:test cases register with this process's root test and run as usual, with one TAP
 * report for all. What it saves is the process start (Node, the tsx loader, the imports): about
 * one CPU-second a file, more than most of these files' own tests take.
 *
 * Usage: node --import tsx scripts/test-batch.ts FILE...
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

for (const file of process.argv.slice(2)) await import(pathToFileURL(path.resolve(file)).href);
