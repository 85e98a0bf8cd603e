/**
 * The engine's backend in Node: onnxruntime-node on the CPU.
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { ConvolutionAlgorithm } from '../engine/network-graph.js';
import type { EngineBackend } from '../engine/style-engine.js';

// ONNX Runtime's own log lines (coloured, timestamped) must never reach a user: every failure
// already surfaces as a rejected promise that the caller turns into one line. 'error' is not
// enough: ORT logs the failing kernel at error level before it rejects.
ort.env.logLevel = 'fatal';

export interface NodeBackendOptions {
  /** Intra-op threads; default: the number of CPU cores. */
  readonly threads?: number;
  /**
   * ORT's CPU memory arena for the loss-and-gradient session (on by default). Without it every
   * evaluation maps its tensors afresh and page-faults on them: on an AMD Zen 5 that was 51 s of
   * system time per 128 s of user time at 512² and a 3.5x slower evaluation; on a Xeon 5–10 %.
   * The arena keeps those pages, at a price in peak RSS that the memory planner counts
   * (engine/memory.ts: ARENA_GRAPH_BYTES_PER_PIXEL); the planner turns it off (lean) for a scale
   * that fits the budget only without it. The target session (run once per scale) and the tiled engine's sessions never use
   * the arena: they would keep their memory while the loss session runs.
   */
  readonly memoryArena?: boolean;
  /**
   * How the loss graph computes its 3x3 convolutions (engine/winograd.ts): 'winograd' (default)
   * where it pays, else ORT's Conv; 'direct' everywhere. The target graph always uses Conv.
   */
  readonly convolution?: ConvolutionAlgorithm;
}

/** How Node's loss graphs compute their 3x3 convolutions unless told otherwise (see NodeBackendOptions). */
export const DEFAULT_CONVOLUTION: ConvolutionAlgorithm = 'winograd';

export function nodeBackend(options: NodeBackendOptions = {}): EngineBackend {
  const arena = options.memoryArena ?? true;
  return {
    ort,
    sessionOptions: {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: options.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      enableCpuMemArena: false,
      executionMode: 'sequential',
      logSeverityLevel: 4, // fatal only (see ort.env.logLevel above)
      // ORT's intra-op threads spin while they wait for work by default. Alone on the machine that
      // buys nothing here (Zen 5, 2 threads: 256² 311–321 ms with or without, 512² 1150–1200 ms, and
      // 3–8 % less CPU per evaluation without); beside other busy processes (a server's runner, a
      // second job, the test suite's lanes) the spinning threads take the cores the others need:
      // three test files at once on 2 cores took 154 CPU-s and 87 s with it, 127 CPU-s and 74 s without.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    },
    // Memory patterns off with the arena: with both, peak RSS at 512² was 1.95 GB instead of
    // 1.42 GB (ORT allocates each run's planned block beside the arena's own chunks), for no speed.
    lossSessionOptions: arena ? { enableCpuMemArena: true, enableMemPattern: false } : undefined,
    graph: { convolution: options.convolution ?? DEFAULT_CONVOLUTION },
  };
}
