/**
 * Runs a workload generator against an application model: the load phase (all of the generator's
 * load operations), then the run phase, counting operations per kind, compute cycles and memory
 * cycles per phase. Deterministic: the generator's Rng is the only source of randomness.
 *
 * `WorkloadRunner` does the same in slices (`step(n)`), so a host-wide loop can interleave many VMs
 * in simulated time; `runWorkload` runs everything at once.
 *
 * Throughput: a VM's ops/s with a core of its own = ops / ((compute + memory cycles) / clockHz). VMs
 * that share cores get their rates from the core time the scheduler gives them (src/sim/scheduler.ts).
 */
import { Operation, OP_KIND_COUNT, OP_KIND_NAMES, type WorkloadGenerator } from '../workload/op.ts';
import type { App } from './app.ts';
import { OpCost } from './cost.ts';

export class PhaseCounters {
  /** Operations per OpKind. */
  readonly ops = new Float64Array(OP_KIND_COUNT);
  total = 0;
  computeCycles = 0;
  memoryCycles = 0;
  /** Reads/gets that did not find their key. */
  misses = 0;
  /** Records or values returned (scan lengths, multi-get hits, read hits). */
  returned = 0;

  get cycles(): number {
    return this.computeCycles + this.memoryCycles;
  }

  add(kind: number, cost: OpCost): void {
    this.ops[kind]++;
    this.total++;
    this.computeCycles += cost.compute;
    this.memoryCycles += cost.memory;
    if (!cost.hit) this.misses++;
    this.returned += cost.returned;
  }

  toJSON(): Record<string, unknown> {
    const perKind: Record<string, number> = {};
    for (let k = 0; k < OP_KIND_COUNT; k++) if (this.ops[k] > 0) perKind[OP_KIND_NAMES[k]] = this.ops[k];
    return {
      ops: this.total,
      perKind,
      computeCycles: this.computeCycles,
      memoryCycles: this.memoryCycles,
      misses: this.misses,
      returned: this.returned,
    };
  }
}

export interface WorkloadCounts {
  app: string;
  workload: string;
  setupCycles: number;
  load: PhaseCounters;
  run: PhaseCounters;
  /** Off-request-path cycles of the app (e.g. hash-table expansion), cumulative. */
  backgroundCycles: number;
}

export class WorkloadRunner {
  readonly counts: WorkloadCounts;
  private readonly op = new Operation();
  private readonly cost = new OpCost();
  private loadLeft: number;
  private runLeft: number;
  private started = false;

  /** `runOps` defaults to the generator's run count (YCSB operationcount, memslap's total). */
  constructor(
    readonly app: App,
    readonly generator: WorkloadGenerator,
    runOps = generator.runCount,
  ) {
    this.loadLeft = generator.loadCount;
    this.runLeft = runOps;
    this.counts = {
      app: app.name,
      workload: generator.name,
      setupCycles: 0,
      load: new PhaseCounters(),
      run: new PhaseCounters(),
      backgroundCycles: 0,
    };
  }

  get done(): boolean {
    return this.loadLeft === 0 && this.runLeft === 0;
  }
  get inLoadPhase(): boolean {
    return this.loadLeft > 0;
  }

  /** Execute up to `maxOps` operations (setup first if needed); returns how many ran. */
  step(maxOps: number): number {
    if (!this.started) {
      this.counts.setupCycles = this.app.setup();
      this.started = true;
    }
    const { app, generator, op, cost } = this;
    let n = 0;
    const load = this.counts.load;
    while (n < maxOps && this.loadLeft > 0) {
      generator.nextLoad(op);
      app.execute(op, cost);
      load.add(op.kind, cost);
      this.loadLeft--;
      n++;
    }
    const run = this.counts.run;
    while (n < maxOps && this.runLeft > 0) {
      generator.nextRun(op);
      app.execute(op, cost);
      run.add(op.kind, cost);
      this.runLeft--;
      n++;
    }
    this.counts.backgroundCycles = app.backgroundCycles;
    return n;
  }
}

/** Run the load phase and `runOps` run-phase operations; returns the counts. */
export function runWorkload(app: App, generator: WorkloadGenerator, runOps = generator.runCount): WorkloadCounts {
  const runner = new WorkloadRunner(app, generator, runOps);
  runner.step(Number.POSITIVE_INFINITY);
  return runner.counts;
}

/** Operations per second of one phase on one vCPU at `clockHz`. */
export function opsPerSecond(phase: PhaseCounters, clockHz: number): number {
  const cycles = phase.cycles;
  return cycles > 0 ? (phase.total * clockHz) / cycles : 0;
}

/** Plain-JSON form of the counts (stable key order). */
export function countsToJSON(c: WorkloadCounts): Record<string, unknown> {
  return {
    app: c.app,
    workload: c.workload,
    setupCycles: c.setupCycles,
    backgroundCycles: c.backgroundCycles,
    load: c.load.toJSON(),
    run: c.run.toJSON(),
  };
}
