/**
 * Server-sent events (text/event-stream) for one job: each JobEvent is one `data:` line of JSON
 * with an increasing `id:`. The stream ends after the job's final status; a comment line every
 * 15 s keeps proxies from closing an idle connection during a long L-BFGS step.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isTerminal, type JobEvent } from '../jobs/events.js';
import type { JobListener } from '../queue/queue.js';

const HEARTBEAT_MS = 15_000;

/** The open streams, so that closing the server can end them (a hijacked response would keep it open). */
export class EventStreams {
  private readonly open = new Set<() => void>();

  /** Stream a job's events; the stream ends after `lifetimeMs` at the latest, and `onEnd` is called once when it ends. */
  send(
    request: FastifyRequest,
    reply: FastifyReply,
    subscribe: (listener: JobListener) => Promise<(() => void) | undefined>,
    opts: { lifetimeMs?: number; onEnd?: () => void } = {},
  ): Promise<void> {
    return sendEvents(request, reply, subscribe, this.open, opts);
  }

  closeAll(): void {
    for (const end of [...this.open]) end();
  }
}

async function sendEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  subscribe: (listener: JobListener) => Promise<(() => void) | undefined>,
  open: Set<() => void>,
  opts: { lifetimeMs?: number; onEnd?: () => void },
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
    'X-Content-Type-Options': 'nosniff',
  });
  res.write('retry: 2000\n\n');
  let sequence = 0;
  let ended = false;
  let unsubscribe: (() => void) | undefined;
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  // A maximum lifetime, so that no client holds a connection forever (EventSource reconnects after `retry`).
  const lifetime = opts.lifetimeMs === undefined ? undefined : setTimeout(() => end(), opts.lifetimeMs);
  const end = () => {
    if (ended) return;
    ended = true;
    open.delete(end);
    clearInterval(heartbeat);
    clearTimeout(lifetime);
    opts.onEnd?.();
    unsubscribe?.();
    res.end();
  };
  let lastStatus = '';
  const listener = (event: JobEvent) => {
    if (ended) return;
    if (event.type === 'status') {
      // A subscriber joining during a state change can be handed the same status twice.
      const text = JSON.stringify(event);
      if (text === lastStatus) return;
      lastStatus = text;
    }
    res.write(`id: ${++sequence}\ndata: ${JSON.stringify(event)}\n\n`);
    if (event.type === 'status' && isTerminal(event.status)) end();
  };
  open.add(end);
  request.raw.on('close', end);
  unsubscribe = await subscribe(listener);
  if (ended) unsubscribe?.();
}
