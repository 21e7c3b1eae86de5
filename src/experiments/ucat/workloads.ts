/**
 * The two workloads of the `ucat` experiment as fleets run them: replayed traces of the real
 * programs (the default) or the store models (`workload: model`), with the compute costs a trace
 * replay adds to its accesses' cycles.
 *
 * Compute constants (each a modelled figure with its reasoning, not a measurement of ours):
 * - per instruction, traces captured with instructions: 1 cycle. Scale-out server workloads run at
 *   an IPC of about 1 or below on 4-wide server cores, most of the gap being memory stalls
 *   (Ferdman et al., "Clearing the Clouds", ASPLOS 2012); the machine model charges the memory
 *   stalls itself, so one cycle per instruction is an upper bound on the core's own share.
 * - per request, traces without instructions: what a request costs beyond the program's recorded
 *   loads and stores (request parsing and protocol code, the network stack):
 *   memcached 5,000 cycles, the model's GET cost (src/apps/cost.ts: Lim et al. ISCA 2013; MICA
 *   NSDI 2014); Redis 20,000 cycles, about 8 us at 2.5 GHz: Redis documents on the order of
 *   100,000 requests/s per core for simple commands without pipelining (redis.io, "Redis
 *   benchmark"), about 10 us each, and a YCSB request is a 10-field HMSET or HGETALL of 1 KB.
 */
import { MEMCACHED_COMPUTE } from '../../apps/cost.ts';
import type { TraceCosts, TraceSource } from '../../apps/traced.ts';
import { traceWindow, type FleetWorkload, type ModelParams, type WorkloadName } from './fleet.ts';

export const WORKLOAD_NAMES: readonly WorkloadName[] = ['memslap', 'ycsb'];

export const CYCLES_PER_INSTRUCTION = 1;
export const REDIS_REQUEST_CYCLES = 20_000;

export const TRACE_COSTS: Readonly<Record<WorkloadName, TraceCosts>> = {
  memslap: { cyclesPerInstruction: CYCLES_PER_INSTRUCTION, cyclesPerRequest: MEMCACHED_COMPUTE.get },
  ycsb: { cyclesPerInstruction: CYCLES_PER_INSTRUCTION, cyclesPerRequest: REDIS_REQUEST_CYCLES },
};

/** What `prepare` hands to `run`: one replayable trace per workload. */
export interface UcatInputs {
  traces: Record<WorkloadName, TraceSource>;
}

export function isUcatInputs(x: unknown): x is UcatInputs {
  const t = (x as UcatInputs | undefined)?.traces;
  return t !== undefined && typeof t.memslap?.open === 'function' && typeof t.ycsb?.open === 'function';
}

/** The fleet workload of `name` under the experiment's settings. */
export function fleetWorkload(
  name: WorkloadName,
  mode: 'trace' | 'model',
  inputs: UcatInputs | undefined,
  model: ModelParams,
  warmupShare: number,
  lastRequests: number,
): FleetWorkload {
  if (mode === 'model') return { kind: 'model', name, params: model };
  const source = inputs!.traces[name];
  return { kind: 'trace', name, source, costs: TRACE_COSTS[name], window: traceWindow(source, warmupShare, lastRequests) };
}

/** A workload's program and driver as results name it, e.g. `memcached-1.6.18+memcaslap`. */
export function workloadDescription(w: FleetWorkload): string {
  if (w.kind === 'model') {
    const p = w.params;
    return w.name === 'memslap'
      ? `memcached model (src/apps/memcached.ts)+memslap get, ${p.memslapInitialLoad} pairs of ${p.memslapValueBytes} B`
      : `document-store model (src/apps/docstore.ts)+ycsb-${p.ycsbWorkload.toLowerCase()}, ${p.ycsbRecordCount} records`;
  }
  const h = w.source.header;
  let events = 0;
  for (const v of Object.values(h.counts)) events += v;
  const instructions = h.withInstructions ? ', with instructions' : '';
  if (h.meta.replayFormOf !== undefined) {
    // A replay form (prepare.ts): say what it was made from.
    return (
      `${h.label} (trace ${h.meta.replayFormOf} of ${h.meta.originalEvents} events${instructions}; warm-up of ${h.meta.originalWindowStart} events ` +
      `reduced to ${w.window.startEvent}; measured: ${w.window.replies} requests of the run phase, ${w.window.events - w.window.startEvent} events)`
    );
  }
  return `${h.label} (trace of ${events} events${instructions}; ${w.window.description})`;
}
