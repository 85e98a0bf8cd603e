/** Process wiring for the CLI: argv, stdio, Ctrl-C → abort (a second Ctrl-C exits at once), exit code. */
import { runCli } from './main.js';

const controller = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  controller.abort();
});
process.on('SIGTERM', () => controller.abort());
const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
process.exitCode = code;
