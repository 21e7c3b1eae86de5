/**
 * What the `ucat` experiment needs from the outside world before it runs: the traces of the real
 * programs (src/trace/workloads.ts captures them under valgrind, or takes them from its cache
 * outside the repository). `run` then reads them as streams, one reader per replaying VM.
 */
import type { TraceSource } from '../../apps/traced.ts';
import type { PrepareContext } from '../types.ts';
import { openTrace } from '../../trace/reader.ts';
import { captureWorkload, type WorkloadName as CapturedName, type WorkloadSize } from '../../trace/workloads.ts';
import type { WorkloadName } from './fleet.ts';
import type { UcatInputs } from './workloads.ts';

export interface TraceSettings {
  workload: 'trace' | 'model';
  traceSize: WorkloadSize;
  ycsbTraceWorkload: string;
  withInstructions: boolean;
}

/** A trace file as a source: its header read once, a fresh reader per VM. */
export function fileSource(file: string): TraceSource {
  const first = openTrace(file);
  const header = first.header;
  first.close();
  return { header, open: () => openTrace(file) };
}

/** The captured workload behind each fleet. */
export function capturedNames(settings: TraceSettings): Record<WorkloadName, CapturedName> {
  return { memslap: 'memcached+memslap', ycsb: `redis+ycsb-${settings.ycsbTraceWorkload.toLowerCase()}` as CapturedName };
}

export async function prepareUcat(settings: TraceSettings, ctx: PrepareContext): Promise<UcatInputs | undefined> {
  if (settings.workload !== 'trace') return undefined;
  const names = capturedNames(settings);
  const traces = {} as Record<WorkloadName, TraceSource>;
  for (const w of ['memslap', 'ycsb'] as const) {
    const captured = await captureWorkload(names[w], {
      size: settings.traceSize,
      withInstructions: settings.withInstructions,
      progress: ctx.progress,
      log: ctx.sys.isTerminal ? (line) => ctx.sys.writeError(`${line}\n`) : undefined,
    });
    traces[w] = fileSource(captured.file);
  }
  return { traces };
}
