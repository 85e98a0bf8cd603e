/**
 * Transparent huge pages for the engine's memory (Linux, glibc ≥ 2.35).
 *
 * ONNX Runtime allocates its tensors and its arena with malloc. With glibc's default 4 KiB pages,
 * memory new to the process costs page faults, and the convolutions TLB misses. With the glibc
 * tunable `glibc.malloc.hugetlb=1`, malloc marks its large blocks MADV_HUGEPAGE and the kernel
 * backs them with 2 MiB pages (THP "madvise", as Debian ships it). Measured on an AMD EPYC Zen 5 (2
 * cores, nothing else running; README "The engine"): `npm run bench` 256² 302 → 286 ms (CPU 817 →
 * 573 ms per evaluation), 512² 1237 → 1157 ms (3244 → 2287 ms); session creation 1788 → 986 ms; a
 * lean (arena-less) 512² evaluation 4345 → 2720 ms of CPU; the same results. The default run at
 * 512 px, whose arena keeps its memory from one evaluation to the next, changed little (160.5 → 158.3 s).
 *
 * The tunable is read once, when the process starts, so it cannot be switched on from inside: the
 * CLI starts itself again with it (relaunchWithHugePages, from bin/style-transfer.js), and the
 * runner processes a server forks get it in their environment (hugePagesEnv). A program that embeds
 * the library sets `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` itself (README, "The engine"). Elsewhere
 * (not Linux, or another C library) the variable is ignored, and nothing is relaunched off Linux.
 * `STYLE_TRANSFER_HUGE_PAGES=0` turns it off (to compare, or where huge pages misbehave).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

const TUNABLE = 'glibc.malloc.hugetlb';
const tunablesOf = (env: NodeJS.ProcessEnv) => (env.GLIBC_TUNABLES ?? '').split(':').filter(Boolean);
const isHugePages = (tunable: string) => tunable.startsWith(`${TUNABLE}=`);

/** Whether a process started with `env` has huge pages (the tunable set to a value other than 0). */
export function hugePagesOn(env: NodeJS.ProcessEnv): boolean {
  return tunablesOf(env).some((t) => isHugePages(t) && t !== `${TUNABLE}=0`);
}

/** `env` without the huge-page tunable (for a process that should run as it is shipped). */
export function withoutHugePages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { GLIBC_TUNABLES: _, ...rest } = env;
  const others = tunablesOf(env).filter((t) => !isHugePages(t));
  return others.length ? { ...rest, GLIBC_TUNABLES: others.join(':') } : rest;
}

/** `env` with the huge-page tunable added, or undefined when it is there already, turned off, or not Linux. */
export function hugePagesEnv(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv | undefined {
  if (platform !== 'linux' || env.STYLE_TRANSFER_HUGE_PAGES === '0') return undefined;
  const tunables = tunablesOf(env);
  if (tunables.some(isHugePages)) return undefined; // set already, to any value
  return { ...env, GLIBC_TUNABLES: [...tunables, `${TUNABLE}=1`].join(':') };
}

/**
 * Runs this process's command again as a child with huge pages, and exits with its status; returns
 * false (and does nothing) when this process has them already or should not.
 *
 * `ownGroup` (the CLI): the child runs in a process group of its own, so a terminal's Ctrl-C (sent
 * to the foreground group) reaches only this process, which passes SIGINT, SIGTERM and SIGHUP on
 * once each: a second Ctrl-C means "exit now" to the CLI, so it must not get the first one twice,
 * and a program that signals this pid reaches the CLI. (The CLI never reads the terminal, which a
 * background group could not.) Without it (the test runner, the benches, whose own children must
 * get a terminal's Ctrl-C too) the child stays in this group and only SIGTERM and SIGHUP are passed on.
 */
export async function relaunchWithHugePages(opts: { ownGroup?: boolean } = {}): Promise<boolean> {
  const env = hugePagesEnv(process.env);
  if (!env) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env, detached: opts.ownGroup === true });
  try {
    await once(child, 'spawn');
  } catch {
    return false; // could not start a process: run here, without huge pages
  }
  const forwarded = opts.ownGroup ? (['SIGINT', 'SIGTERM', 'SIGHUP'] as const) : (['SIGTERM', 'SIGHUP'] as const);
  for (const signal of forwarded) process.on(signal, () => child.kill(signal));
  // In a shared group the terminal's SIGINT reaches the child itself; this process waits for its exit.
  if (!opts.ownGroup) process.on('SIGINT', () => {});
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (signal) {
    // Die of the same signal, so a shell or supervisor sees what happened to the command.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
}
