/**
 * What the `ucat` experiment needs from the outside world before it runs: the traces of the real
 * programs (src/trace/workloads.ts captures them under valgrind, or takes them from its cache
 * outside the repository), each turned once into its replay form (replay-form.ts), which is cached
 * beside it. `run` then streams the replay forms, one reader per replaying VM.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TraceSource } from '../../apps/traced.ts';
import type { PrepareContext } from '../types.ts';
import { openTrace } from '../../trace/reader.ts';
import { TraceWriter } from '../../trace/writer.ts';
import { captureWorkload, type WorkloadName as CapturedName, type WorkloadSize } from '../../trace/workloads.ts';
import { traceWindow, type WorkloadName } from './fleet.ts';
import { writeReplayForm } from './replay-form.ts';
import type { UcatInputs } from './workloads.ts';

export interface TraceSettings {
  workload: 'trace' | 'model';
  traceSize: WorkloadSize;
  ycsbTraceWorkload: string;
  withInstructions: boolean;
  warmupShare: number;
  traceRunRequests: number;
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

/**
 * The replay form of the trace in `file`, cached beside it under a name that carries the settings
 * it depends on (the run-phase cut and the warm-up share).
 */
export function replayFormFile(file: string, settings: Pick<TraceSettings, 'warmupShare' | 'traceRunRequests'>): string {
  const out = path.join(path.dirname(file), `${path.basename(file, '.umt')}.replay-last${settings.traceRunRequests}-w${settings.warmupShare}.umt`);
  if (fs.existsSync(out)) return out;
  const source = fileSource(file);
  const window = traceWindow(source, settings.warmupShare, settings.traceRunRequests);
  const h = source.header;
  const writer = new TraceWriter(out, {
    command: h.command,
    label: h.label,
    withInstructions: h.withInstructions,
    meta: { ...h.meta, runRequests: window.replies, replayFormOf: path.basename(file), originalEvents: window.events, originalWindowStart: window.startEvent },
  });
  try {
    writer.setMeta('replayWarmupEvents', writeReplayForm(source, window, writer));
    writer.close();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return out;
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
    traces[w] = fileSource(replayFormFile(captured.file, settings));
  }
  return { traces };
}
