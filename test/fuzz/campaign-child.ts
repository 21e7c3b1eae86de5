/**
 * A worker of the fuzz campaign (campaign.ts): a long-lived process that runs chunks of inputs of
 * any target in-process, one chunk per request. Before each input it hands the parent the input
 * and its own CPU time so far, and waits until the message has left (so that if this input hangs or
 * kills the process, the parent still has it and its watchdog knows when it started). After each
 * chunk it collects garbage and reports its live heap and resident memory, so that the parent sees
 * any growth over the worker's life. Exits when the parent goes away.
 */
import * as fc from 'fast-check';
import { FUZZ_TARGETS, verdict } from './targets.ts';

export interface ChunkRequest {
  kind: 'chunk';
  target: string;
  seed: number;
  cases: number;
  /** Inputs of the chunk already done (by an earlier worker that hung or died): generated, not run. */
  skip: number;
}

export type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'case'; index: number; input: string; cpuMicros: number }
  | { kind: 'done'; index: number; ms: number; bytes: number; failure: string | null }
  | { kind: 'chunkEnd'; heapMiB: number; rssMiB: number; peakRssMiB: number }
  /** The chunk stopped outside any target: a target's input generator threw (a bug of the fuzz harness). */
  | { kind: 'broken'; message: string };

const send = (m: WorkerMessage): Promise<void> => new Promise((resolve) => void process.send!(m, () => resolve()));
const cpuMicros = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const MiB = 2 ** 20;

async function runChunk(req: ChunkRequest): Promise<void> {
  const target = FUZZ_TARGETS.find((t) => t.name === req.target)!;
  let index = 0;
  try {
    await fc.check(
      fc.asyncProperty(target.arbitrary, async (input) => {
        const i = index++;
        if (i < req.skip) return true;
        await send({ kind: 'case', index: i, input: Buffer.from(input).toString('base64'), cpuMicros: cpuMicros() });
        // CPU time, not wall time: on a shared machine the wall clock measures the neighbours.
        const t0 = cpuMicros();
        const failure = verdict(target, input);
        await send({ kind: 'done', index: i, ms: (cpuMicros() - t0) / 1000, bytes: input.length, failure });
        return true;
      }),
      { numRuns: req.cases, seed: req.seed },
    );
  } catch (e) {
    // The property catches what a target throws, so this came from outside it: the input generator.
    await send({ kind: 'broken', message: ((e as Error).stack ?? String(e)).split('\n').slice(0, 4).join(' | ') });
    return;
  }
  // Live heap after a full collection: what the worker keeps, as opposed to what it last used.
  (globalThis as { gc?: () => void }).gc?.();
  await send({
    kind: 'chunkEnd',
    heapMiB: process.memoryUsage().heapUsed / MiB,
    rssMiB: process.memoryUsage().rss / MiB,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  });
}

if (process.send !== undefined) {
  process.on('disconnect', () => process.exit(0));
  // One chunk at a time: the parent sends the next one after this one's chunkEnd.
  process.on('message', (m: ChunkRequest) => void runChunk(m));
  void send({ kind: 'ready' });
}
