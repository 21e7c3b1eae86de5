/**
 * One fleet of the `ucat` experiment: a host, `vms` VMs that all run one workload (memcached under
 * memslap, or a store under YCSB), interleaved in simulated time, then measured.
 *
 * A VM's program is either a replayed trace of the real program (src/apps/traced.ts) or one of
 * the store models (`--workload model`: src/apps/memcached.ts, src/apps/docstore.ts). Each has a
 * warm-up that the measurement leaves out: a model's load phase, or a trace's start-up and load
 * phase (traceWindow). A trace's warm-up is fast-forwarded (src/apps/traced.ts): its allocations
 * are replayed and each guest page it touches is touched once, so the window starts with every
 * page placed and mapped and the TLBs and caches holding what the last touches left.
 *
 * Scheduling: the host has `cores` physical cores; VM i's single vCPU is pinned to core i mod
 * cores, and each core runs its vCPUs round robin in time slices of `quantumMs` (runOnCores,
 * src/sim/scheduler.ts), sharing the core's TLBs, paging-structure caches and private caches
 * (VPID-tagged, or flushed on every switch with `vpid: false`); the LLC is the host's. A VM's work
 * comes in units the scheduler can stop after: one operation of a model, or a bounded batch of
 * trace events (TRACE_UNIT_EVENTS), so a slice ends within one unit of the quantum. Cores advance
 * in step in simulated time, so VMs touch memory, and the tier-unaware host hands out DRAM first
 * come, first served, in the order simulated time gives. A unit never crosses a VM's warm-up
 * boundary, so the counter snapshot that starts the measurement is exact.
 *
 * Core time: what a unit costs its core is the program's compute cycles plus the cycles the vCPU
 * spent (translation with its faults, data lines, invalidations); a switch onto the core costs the
 * preset's switch cycles on top. A VM's measured window is the core time from its window's start
 * to its end that the core spent on it: its own units and the switches back to it.
 *
 * Measured: host frames per tier at the end (data + EPT tables + guest page tables, which are
 * guest data to the host); guest malloc requested/reserved bytes and guest page-table leaves at the
 * end; vCPU counters (TLB misses, walk and data cycles, data lines served per memory tier, switches)
 * and the program's requests and compute cycles of the measured window only; each core's clock at
 * the end (the fleet's simulated time).
 */
import { Rng } from '../../base/rng.ts';
import { UserError } from '../../base/errors.ts';
import { OutOfMemoryError } from '../../guest/allocator.ts';
import { HostMemoryExhaustedError } from '../../host/frames.ts';
import { DocumentStore } from '../../apps/docstore.ts';
import { WorkloadRunner } from '../../apps/driver.ts';
import { MemcachedStore } from '../../apps/memcached.ts';
import { MARKER_REPLY, TracedProgram, type TraceCosts, type TraceSource } from '../../apps/traced.ts';
import { TraceOp } from '../../trace/types.ts';
import type { Progress } from '../../base/progress.ts';
import { SimHost } from '../../sim/host.ts';
import { quantumCycles, runOnCores, type CoreTask } from '../../sim/scheduler.ts';
import type { SimVm } from '../../sim/vm.ts';
import { diffSnapshots } from '../../hw/counters.ts';
import { createMemslapWorkload } from '../../workload/memslap.ts';
import { createYcsbWorkload } from '../../workload/ycsb.ts';
import type { FleetSetup } from './configs.ts';

const MiB = 1024 * 1024;
/**
 * Host NVM per VM beyond its NVM share, for the host's EPT table pages and for the guest's own
 * page tables where they outgrow DRAM: the fleet's memory never runs the host dry before it runs
 * the guests dry.
 */
const TABLE_ALLOWANCE_MIB = 1;
/**
 * Trace events per scheduler unit. A slice overshoots its quantum by at most one unit: 256 events
 * cost at most a few hundred thousand cycles even when every one misses to NVM, a few per cent of
 * a 3 ms quantum, and the scheduler's bookkeeping per unit stays negligible against the events.
 */
export const TRACE_UNIT_EVENTS = 256;
/** Model operations per scheduler unit: one request, the unit a server can be descheduled after. */
const MODEL_UNIT_OPS = 1;

export type WorkloadName = 'memslap' | 'ycsb';

/** The model stores' parameters (`--workload model`). */
export interface ModelParams {
  memslapInitialLoad: number;
  memslapValueBytes: number;
  memcachedMemLimitMiB: number;
  ycsbWorkload: string;
  ycsbRecordCount: number;
  ycsbOperationCount: number;
}

/** What one fleet runs: a trace, or a model store. */
export type FleetWorkload =
  | { kind: 'trace'; name: WorkloadName; source: TraceSource; costs: TraceCosts; window: TraceWindow }
  | { kind: 'model'; name: WorkloadName; params: ModelParams };

export interface FleetParams {
  cpu: string;
  dramTier: string;
  nvmTier: string;
  vms: number;
  vmDramMiB: number;
  vmNvmMiB: number;
  /** Physical cores of the host; VM i's vCPU is pinned to core i mod cores. */
  cores: number;
  /** Time slice of a vCPU on its core. */
  quantumMs: number;
  /** VPID-tagged translations (false: a core flushes its TLBs on every vCPU switch). */
  vpid: boolean;
}

/** Measured-window figures of one VM. */
export interface VmResult {
  vm: number;
  workload: WorkloadName;
  /** The core its vCPU is pinned to. */
  core: number;
  /** Requests (trace markers or header count; model operations) in the measured window. */
  ops: number;
  /**
   * Core time of the window (cycles): compute + translation (faults included) + data +
   * invalidations + switches onto the core. Throughput comes from it (aggregate.ts).
   */
  coreCycles: number;
  computeCycles: number;
  /** Translation cycles without the faults the vCPU adds to them (faultCycles has those). */
  translationCycles: number;
  dataCycles: number;
  faultCycles: number;
  flushCycles: number;
  switchCycles: number;
  /** Times the vCPU was switched back onto its core in the window. */
  switches: number;
  accesses: number;
  walks: number;
  walkCycles: number;
  l1TlbMisses: number;
  /** Data lines served by memory, per host tier [DRAM, NVM] (cache misses of the window). */
  dataLinesMem: number[];
  requestedBytes: number;
  reservedBytes: number;
  /** Guest page-table leaves at the end, per size: the translations the VM's footprint needs. */
  leaves4K: number;
  leaves2M: number;
}

export interface FleetResult {
  configuration: string;
  workload: WorkloadName;
  /** Host 4 KiB frames in use per tier at the end: [DRAM, NVM]. */
  residentFrames: number[];
  /** EPT table frames, all tiers. */
  eptTableFrames: number;
  /** Frames the host's allocator has handed out (the accounting check). */
  allocatedFrames: number;
  /** Each core's clock at the end (cycles): the fleet's simulated time on it. */
  coreCycles: number[];
  vms: VmResult[];
}

/** A VM's program as the scheduler sees it. */
interface VmProgram {
  /** Run up to `n` units without crossing the warm-up boundary; returns how many ran. */
  step(n: number): number;
  readonly done: boolean;
  readonly measuring: boolean;
  /** Compute cycles so far (the memory cycles are the vCPU's). */
  computeCycles(): number;
  /** Requests and compute cycles since the warm-up ended. */
  measuredRequests(): number;
  measuredComputeCycles(): number;
}

class ModelProgram implements VmProgram {
  constructor(private readonly runner: WorkloadRunner) {}
  step(n: number): number {
    const r = this.runner;
    const loadLeft = r.generator.loadCount - r.counts.load.total;
    return r.step(loadLeft > 0 ? Math.min(n, loadLeft) : n);
  }
  get done(): boolean {
    return this.runner.done;
  }
  get measuring(): boolean {
    return !this.runner.inLoadPhase;
  }
  computeCycles(): number {
    const c = this.runner.counts;
    return c.load.computeCycles + c.run.computeCycles;
  }
  measuredRequests(): number {
    return this.runner.counts.run.total;
  }
  measuredComputeCycles(): number {
    return this.runner.counts.run.computeCycles;
  }
}

/**
 * Where a trace's measured window starts. A server's trace holds its start-up, the client's load
 * phase and its run phase; like memslap and YCSB themselves we measure the run phase: the last
 * `meta.runRequests` replies, or only the last `lastRequests` of them (the steady state: a
 * server's first requests on a connection allocate its buffers). The window starts right after
 * the reply before them or, when nothing before them was answered (memaslap has no load phase),
 * after the marker that precedes the first reply (the client's connection). A trace without that
 * information is measured after `warmupShare` of its events. A replay form (replay-form.ts)
 * carries its warm-up length in `meta.replayWarmupEvents`.
 */
export interface TraceWindow {
  startEvent: number;
  events: number;
  /** Replies in the window (0: the trace has no reply markers). */
  replies: number;
  /** In words, for the summary. */
  description: string;
}

export function traceWindow(source: TraceSource, warmupShare: number, lastRequests = 0): TraceWindow {
  const reader = source.open();
  const replyEnds: number[] = [];
  const otherEnds: number[] = [];
  let events = 0;
  for (let b = reader.next(); b !== null; b = reader.next()) {
    for (let i = 0; i < b.length; i++) {
      if (b.op[i] === TraceOp.Marker) (b.arg[i] === MARKER_REPLY ? replyEnds : otherEnds).push(events + i + 1);
    }
    events += b.length;
  }
  reader.close();
  const runPhase = Number(source.header.meta.runRequests);
  const run = lastRequests > 0 && lastRequests < runPhase ? lastRequests : runPhase;
  const warmup = Number(source.header.meta.replayWarmupEvents);
  if (Number.isInteger(warmup) && warmup >= 0 && warmup <= events) {
    // A replay form (replay-form.ts) says where its window starts.
    const replies = replyEnds.filter((e) => e > warmup).length;
    return { startEvent: warmup, events, replies, description: `measured: ${replies} replies, from event ${warmup} of ${events} (a replay form)` };
  }
  if (run > 0 && replyEnds.length >= run) {
    const before = replyEnds.length - run;
    const firstReply = replyEnds[0];
    const preceding = otherEnds.filter((e) => e < firstReply);
    const startEvent = before > 0 ? replyEnds[before - 1] : preceding.length > 0 ? preceding[preceding.length - 1] : 0;
    const what = run < runPhase ? `the last ${run} requests of the run phase of ${runPhase}` : 'the run phase';
    return { startEvent, events, replies: run, description: `measured: ${what}, the last ${run} of ${replyEnds.length} replies, from event ${startEvent} of ${events}` };
  }
  const startEvent = Math.floor(events * warmupShare);
  const replies = replyEnds.filter((e) => e > startEvent).length;
  return { startEvent, events, replies, description: `measured: events ${startEvent} to ${events} (warm-up ${warmupShare} of the events)` };
}

class TraceProgram implements VmProgram {
  private readonly warmupEvents: number;
  private repliesAtWarmup = 0;
  private markersAtWarmup = 0;
  private instructionsAtWarmup = 0;
  private started = false;

  constructor(
    private readonly program: TracedProgram,
    window: TraceWindow,
  ) {
    this.warmupEvents = window.startEvent;
    if (this.warmupEvents === 0) this.started = true;
  }
  step(n: number): number {
    const p = this.program;
    const left = this.warmupEvents - p.counters.events;
    const ran = p.step(!this.started && left > 0 ? Math.min(n, left) : n);
    if (!this.started && p.counters.events >= this.warmupEvents) {
      this.started = true;
      this.repliesAtWarmup = p.counters.replies;
      this.markersAtWarmup = p.counters.markers;
      this.instructionsAtWarmup = p.counters.instructions;
    }
    return ran;
  }
  get done(): boolean {
    return this.program.done;
  }
  get measuring(): boolean {
    return this.started;
  }
  computeCycles(): number {
    return this.program.computeCycles(this.program.requests);
  }
  measuredRequests(): number {
    const p = this.program;
    // As TracedProgram.requests counts them (replies, else any marker), over the window: a window
    // that starts before the first reply (memaslap has no load phase) has no replies at its start.
    const c = p.counters;
    if (c.replies > 0) return c.replies - this.repliesAtWarmup;
    if (c.markers > 0) return c.markers - this.markersAtWarmup;
    // A trace without markers: the header's count, spread evenly over the events replayed.
    const total = p.totalEvents;
    return total > 0 ? (p.headerRequests * Math.max(0, p.counters.events - this.warmupEvents)) / total : 0;
  }
  measuredComputeCycles(): number {
    const p = this.program;
    const costs = p.options.costs;
    if (p.header.withInstructions) return (p.counters.instructions - this.instructionsAtWarmup) * costs.cyclesPerInstruction;
    return this.measuredRequests() * costs.cyclesPerRequest;
  }
}

function createProgram(vm: SimVm, index: number, w: FleetWorkload, root: Rng): VmProgram {
  if (w.kind === 'trace') {
    const traced = new TracedProgram(vm.guest.malloc, vm.guest.kernel, vm.vcpu, w.source, { costs: w.costs, fastForwardEvents: w.window.startEvent });
    return new TraceProgram(traced, w.window);
  }
  const p = w.params;
  // The operation streams depend on the seed and the VM number only, so every configuration sees
  // the same operations.
  if (w.name === 'memslap') {
    const gen = createMemslapWorkload(root.fork(`vm${index}/memslap`), { test: 'get', initialLoad: p.memslapInitialLoad, valueBytes: p.memslapValueBytes });
    const app = new MemcachedStore(vm.guest.malloc, vm.vcpu, { memLimitBytes: p.memcachedMemLimitMiB * MiB });
    return new ModelProgram(new WorkloadRunner(app, gen));
  }
  const gen = createYcsbWorkload(p.ycsbWorkload, root.fork(`vm${index}/ycsb`), { recordCount: p.ycsbRecordCount, operationCount: p.ycsbOperationCount });
  return new ModelProgram(new WorkloadRunner(new DocumentStore(vm.guest.malloc, vm.vcpu), gen));
}

/** Units (trace events or model operations) one VM of a fleet runs, for progress totals. */
export function workloadUnits(w: FleetWorkload): number {
  if (w.kind === 'trace') {
    let n = 0;
    for (const v of Object.values(w.source.header.counts)) n += v;
    return n;
  }
  const p = w.params;
  return w.name === 'memslap' ? 2 * p.memslapInitialLoad : p.ycsbRecordCount + p.ycsbOperationCount;
}

/**
 * One VM's program as its core runs it: a unit at a time, with the counter snapshot that starts its
 * measured window taken where the warm-up ends.
 */
class VmTask implements CoreTask {
  /** The vCPU's counters when the window started (null before). */
  windowStart: Record<string, number> | null = null;

  constructor(
    readonly vm: SimVm,
    readonly program: VmProgram,
    private readonly unit: number,
    private readonly ran: (units: number) => void,
  ) {}

  get vcpu() {
    return this.vm.vcpu;
  }

  get done(): boolean {
    return this.program.done;
  }

  step(): void {
    this.startWindowIfMeasuring();
    this.ran(this.program.step(this.unit));
    this.startWindowIfMeasuring();
  }

  /** Core time the VM has used by its own account: compute plus what its vCPU spent. */
  spent(): number {
    const c = this.vm.vcpu.counters;
    return this.program.computeCycles() + c.translationCycles + c.dataCycles + c.flushCycles;
  }

  private startWindowIfMeasuring(): void {
    if (this.windowStart === null && this.program.measuring) this.windowStart = this.vm.vcpu.counters.snapshot();
  }
}

function measure(t: VmTask, i: number, workload: WorkloadName): VmResult {
  const vcpu = t.vm.vcpu;
  const d = diffSnapshots(t.windowStart ?? vcpu.counters.snapshot(), vcpu.counters.snapshot());
  const total = t.vm.guest.stats().total;
  const kernel = t.vm.guest.kernelStats();
  const computeCycles = t.program.measuredComputeCycles();
  return {
    vm: i,
    workload,
    core: vcpu.core.index,
    ops: t.program.measuredRequests(),
    // The vCPU adds a fault's cost to the translation that met it (and counts it in faultCycles).
    coreCycles: computeCycles + d.translationCycles + d.dataCycles + d.flushCycles + d.switchCycles,
    computeCycles,
    translationCycles: d.translationCycles - d.faultCycles,
    dataCycles: d.dataCycles,
    faultCycles: d.faultCycles,
    flushCycles: d.flushCycles,
    switchCycles: d.switchCycles,
    switches: d.vcpuSwitches,
    accesses: d.accesses,
    walks: d.walks,
    walkCycles: d.walkCycles,
    l1TlbMisses: d.l1TlbMisses,
    dataLinesMem: [d['dataMem.tier0'], d['dataMem.tier1']],
    requestedBytes: total.requestedBytes,
    reservedBytes: total.reservedBytes,
    leaves4K: kernel.leaves4K,
    leaves2M: kernel.leaves2M,
  };
}

/**
 * Run one fleet. Host DRAM is the VMs' DRAM shares added up (so the tier-aware back-end's DRAM
 * regions fill it exactly) and host NVM their NVM shares, plus TABLE_ALLOWANCE_MIB each.
 */
export function runFleet(setup: FleetSetup, workload: FleetWorkload, p: FleetParams, seed: number, progress: Progress, unitsBefore: number): FleetResult {
  const host = new SimHost({
    cpu: p.cpu,
    cores: p.cores,
    vpid: p.vpid,
    host: {
      tiers: [
        { tier: p.dramTier, bytes: p.vms * p.vmDramMiB * MiB },
        { tier: p.nvmTier, bytes: p.vms * (p.vmNvmMiB + TABLE_ALLOWANCE_MIB) * MiB },
      ],
      variant: setup.variant,
      policy: { hugeBacking: setup.hugeBacking },
    },
  });
  const root = new Rng(seed);
  const label = `${setup.configuration.name} (${setup.backing}, ${setup.dramPolicy}) ${workload.name}`;
  let units = 0;
  let reported = 0;
  const ran = (n: number) => {
    units += n;
    if (units - reported < 200_000) return;
    reported = units;
    progress.update(unitsBefore + units, `${label}: ${units} on ${p.vms} VMs`);
  };
  const unit = workload.kind === 'trace' ? TRACE_UNIT_EVENTS : MODEL_UNIT_OPS;
  const tasks: VmTask[] = [];
  for (let i = 0; i < p.vms; i++) {
    const vm = host.startVm({
      memory: [
        { tier: p.dramTier, bytes: p.vmDramMiB * MiB },
        { tier: p.nvmTier, bytes: p.vmNvmMiB * MiB },
      ],
      guest: setup.configuration.guest,
    });
    tasks.push(new VmTask(vm, createProgram(vm, i, workload, root), unit, ran));
  }
  let coreCycles: number[];
  try {
    coreCycles = runOnCores(host.machine, tasks, quantumCycles(host.machine, p.quantumMs)).coreCycles;
  } catch (e) {
    if (!(e instanceof OutOfMemoryError) && !(e instanceof HostMemoryExhaustedError)) throw e;
    throw new UserError(`ucat: the ${workload.name} program does not fit its VM under ${label} (vmDramMiB ${p.vmDramMiB} + vmNvmMiB ${p.vmNvmMiB}): raise ucat.vmNvmMiB (${e.message})`);
  }

  let eptTableFrames = 0;
  for (const t of host.backend.memory.tiers) eptTableFrames += t.tableFrames;
  return {
    configuration: setup.configuration.name,
    workload: workload.name,
    residentFrames: host.residentFrames(),
    eptTableFrames,
    allocatedFrames: host.backend.memory.allocatedFrames,
    coreCycles,
    vms: tasks.map((t, i) => measure(t, i, workload.name)),
  };
}
