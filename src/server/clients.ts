/**
 * Fairness between clients: what one client may hold at once (event streams, uploads in progress,
 * waiting jobs), so that one client cannot take what the others need. A client is its network
 * address (request.ip: the connecting machine, or with `trustProxy` the address the proxy says it
 * forwards for); a browser is its token cookie (guards.ts). Scripts can invent tokens but not
 * addresses, so a per-browser cap always comes with a per-address one.
 */

/** Slots of one kind (open streams, uploads), capped per client and in total. */
export class SlotLimiter {
  private readonly held = new Map<string, number>();
  private total = 0;

  constructor(
    readonly perClient: number,
    readonly maxTotal: number,
  ) {}

  /** Take a slot for `client`: the function that gives it back, or which cap refused it (the total first: it is the busier reason). */
  acquire(client: string): (() => void) | 'client' | 'total' {
    const mine = this.held.get(client) ?? 0;
    if (this.total >= this.maxTotal) return 'total';
    if (mine >= this.perClient) return 'client';
    this.held.set(client, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.held.get(client) ?? 1) - 1;
      if (left > 0) this.held.set(client, left);
      else this.held.delete(client);
    };
  }
}

/**
 * The jobs each address has queued on this server, to cap those still waiting. Kept in memory:
 * after a restart an address starts afresh (the per-browser quota, counted from the job records,
 * still holds).
 */
export class QueuedByAddress {
  private readonly jobs = new Map<string, Set<string>>();

  /** How many of the address's jobs are still waiting (`isWaiting` asks the queue); forgets the others. */
  count(address: string, isWaiting: (id: string) => boolean): number {
    const ids = this.jobs.get(address);
    if (!ids) return 0;
    for (const id of ids) if (!isWaiting(id)) ids.delete(id);
    if (ids.size === 0) this.jobs.delete(address);
    return ids.size;
  }

  add(address: string, id: string): void {
    const ids = this.jobs.get(address) ?? new Set<string>();
    ids.add(id);
    this.jobs.set(address, ids);
  }
}
