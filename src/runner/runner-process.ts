/**
 * The runner process: the server's embedded queue forks this module (one per concurrent job) and
 * sends it jobs over IPC (runner-protocol.ts); it runs them one at a time with executeJob
 * (src/jobs/execute.ts), off the server's event loop, on one Stylizer kept for the life of the
 * process (the weights are read and the sessions built by the first job only), and reports events,
 * preview versions and the outcome. A crash or an out-of-memory kill here fails only the job it
 * was running: the server sees the exit and lives on. (A Redis worker needs none of this: it is a
 * process of its own, and runs executeJob on its own Stylizer.)
 *
 * Started by RunnerProcess (runner-client.ts) with its settings as JSON in argv[2].
 */
import { AbortError, firstLine, StyleTransferError } from '../errors.js';
import { createStylizer } from '../stylize.js';
import { StorageError } from '../jobs/errors.js';
import { executeJob } from '../jobs/execute.js';
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
      post({ type: 'failed', id: message.job.spec.id, failure: { kind: 'internal', message: 'the runner is busy with another job' } });
      return;
    }
    const job = message.job;
    const controller = new AbortController();
    running = { id: job.spec.id, controller };
    executeJob(stylizer, job, settings, {
      signal: controller.signal,
      onEvent: (event) => post({ type: 'event', id: job.spec.id, event }),
      onPreview: (version) => post({ type: 'preview', id: job.spec.id, version }),
    }).then(
      ({ seconds }) => {
        running = undefined;
        post({ type: 'done', id: job.spec.id, seconds });
      },
      (err: unknown) => {
        running = undefined;
        post({ type: 'failed', id: job.spec.id, failure: describeFailure(err) });
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
