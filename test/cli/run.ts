/**
 * Two ways for the CLI tests to run the command. In-process through runCli, the code path of the
 * binary minus process start-up (tsx compiling the sources, a fresh Node), which is what most cases
 * need; and as a real process, for the few smoke tests of what only a process has: the exit code,
 * the Ctrl-C wiring of src/cli/entry.ts, the binary's start-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { repoRoot, sharedWeights } from '../helpers.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment the CLI tests run in: the shared weights, and a cache home of their own. */
export const cliEnv = { STYLE_TRANSFER_WEIGHTS: sharedWeights, STYLE_TRANSFER_HOME: path.join(tmpdir(), 'st-cli-test-home') };

/**
 * Runs the command in this process with captured output (not a TTY), in `cliEnv` plus `env`: the
 * variables are set for the call only, so calls must not overlap (node:test runs a file's cases one
 * after another).
 */
export async function cliInProcess(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => ({ write: (chunk: string | Uint8Array) => (append(String(chunk)), true) }) as unknown as NodeJS.WritableStream;
  const vars: NodeJS.ProcessEnv = { ...cliEnv, ...env };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    const code = await runCli(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)) });
    return { code, stdout, stderr };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Runs bin/style-transfer.js as a process in `cliEnv` plus `env`; `onStdout` sees the output so far. */
export function cliProcess(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; onStdout?: (text: string, child: ChildProcess) => void } = {},
): Promise<CliRun & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/style-transfer.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...cliEnv, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
