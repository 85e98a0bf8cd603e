/**
 * The runner process: the server (or a worker) forks this module and sends it jobs over IPC
 * (runner-protocol.ts); it runs them one at a time with executeJob, off the server's event loop,
 * on one Stylizer kept for the life of the process (the weights are read and the sessions built
 * by the first job only), and reports events, preview versions and the outcome. A crash or an out-of-memory kill here
 * fails only the job it was running: the server sees the exit and lives on.
 *
 * Started by RunnerProcess (runner-client.ts) with its settings as JSON in argv[2].
 */
import { AbortError, firstLine, StyleTransferError } from '../errors.js';
import { createStylizer } from '../stylize.js';
import { executeJob, StorageError } from '../jobs/run.js';
import type { FromRunner, RunnerFailure, RunnerSettings, ToRunner } from './runner-protocol.js';

const send = process.send?.bind(process);
if (!send) {
  process.stderr.write('error: runner-process is started by the server (it needs an IPC channel)\n');
  process.exit(2);
}
const settings = JSON.parse(process.argv[2] ?? '{}') as RunnerSettings;
const post = (message: FromRunner) => send(message);
const stylizer = await createStylizer({ weights: settings.weights });

let running: { id: string; controller: AbortController } | undefined;

process.on('message', (message: ToRunner) => {
  if (message.type === 'cancel') {
    if (running?.id === message.id) running.controller.abort();
  } else if (message.type === 'exit') {
    running?.controller.abort();
    process.disconnect();
  } else if (message.type === 'run') {
    if (running) {
      post({ type: 'failed', id: message.job.id, failure: { kind: 'internal', message: 'the runner is busy with another job' } });
      return;
    }
    const job = message.job;
    const controller = new AbortController();
    running = { id: job.id, controller };
    executeJob(stylizer, job, settings, {
      signal: controller.signal,
      onEvent: (event) => post({ type: 'event', id: job.id, event }),
      onPreview: (version) => post({ type: 'preview', id: job.id, version }),
    }).then(
      ({ seconds }) => {
        running = undefined;
        post({ type: 'done', id: job.id, seconds });
      },
      (err: unknown) => {
        running = undefined;
        post({ type: 'failed', id: job.id, failure: describeFailure(err) });
      },
    );
  }
});
// The parent went away: nothing left to report to.
process.on('disconnect', () => {
  running?.controller.abort();
  // The sessions hold native memory and threads: release them, then leave.
  void stylizer.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
});
post({ type: 'ready', pid: process.pid });

function describeFailure(err: unknown): RunnerFailure {
  if (err instanceof AbortError) return { kind: 'cancelled', message: err.message };
  if (err instanceof StorageError) return { kind: 'storage', message: err.message };
  if (err instanceof StyleTransferError) return { kind: 'user', message: err.message, name: err.name, code: err.code };
  return { kind: 'internal', message: firstLine(err), stack: (err as Error)?.stack };
}
