/**
 * Time-sliced scheduling of vCPUs on the host's physical cores, in simulated time.
 *
 * Each vCPU is pinned to a core (its `VCpu.core`). A core runs its vCPUs round robin, each for a
 * quantum of simulated cycles; a switch between two vCPUs costs the preset's `vcpuSwitchCycles`
 * and, without VPID, flushes the core's VPID-tagged structures (src/hw/core.ts). Work comes in
 * indivisible units (an application operation), so a slice ends after the unit that reaches the
 * quantum. Cores advance independently; the scheduler always runs the core whose clock is
 * furthest behind (ties: lowest core), so the cores interleave in simulated time and share the
 * LLC and the tiers' bandwidth in that order. Deterministic: no randomness, no wall clock.
 *
 * Quantum: 3 ms by default, Linux CFS's minimum granularity on hosts of eight or more CPUs
 * (sysctl_sched_min_granularity = 0.75 ms x (1 + log2 8) = 3 ms; EEVDF's base slice scales the
 * same way), which is what a vCPU thread gets when several share a core.
 */
import type { Machine } from '../hw/vcpu.ts';
import type { VCpu } from '../hw/vcpu.ts';

export const DEFAULT_QUANTUM_MS = 3;

/** Cycles of a quantum of `ms` milliseconds at the machine's clock. */
export function quantumCycles(machine: Machine, ms = DEFAULT_QUANTUM_MS): number {
  return Math.round(ms * 1e6 * machine.cpu.clockGHz);
}

/** A vCPU's work, in units the scheduler can run one at a time. */
export interface CoreTask {
  readonly vcpu: VCpu;
  /** Whether the task has nothing left to run. */
  readonly done: boolean;
  /** Run one unit (only called while not `done`). `now` is the core's clock (cycles) when it starts. */
  step(now: number): void;
  /** Cycles the task has used so far by its own account (what its units cost). */
  spent(): number;
}

export interface ScheduleResult {
  /** Per core, its clock when its last task finished (0 for a core without tasks). */
  coreCycles: number[];
  /** Per task, the core clock when it finished. */
  finishedAt: number[];
  /** Switches between two vCPUs, all cores. */
  switches: number;
}

/** Run every task to its end on its vCPU's core, `quantum` cycles at a time. */
export function runOnCores(machine: Machine, tasks: readonly CoreTask[], quantum: number): ScheduleResult {
  if (!(quantum > 0)) throw new Error(`scheduler: quantum ${quantum} cycles`);
  const coreCount = machine.cores.length;
  const queues: number[][] = Array.from({ length: coreCount }, () => []);
  tasks.forEach((t, i) => queues[t.vcpu.core.index].push(i));
  const clock = new Float64Array(coreCount);
  const finishedAt = new Array<number>(tasks.length).fill(0);
  let switches = 0;
  for (;;) {
    let core = -1;
    for (let c = 0; c < coreCount; c++) if (queues[c].length > 0 && (core < 0 || clock[c] < clock[core])) core = c;
    if (core < 0) break;
    const queue = queues[core];
    const i = queue.shift() as number;
    const task = tasks[i];
    if (task.done) {
      finishedAt[i] = clock[core];
      continue;
    }
    const switchCost = machine.cores[core].switchTo(task.vcpu);
    if (switchCost > 0) switches++;
    clock[core] += switchCost;
    const start = task.spent();
    let used = 0;
    while (!task.done && used < quantum) {
      task.step(clock[core] + used);
      used = task.spent() - start;
    }
    clock[core] += used;
    if (task.done) finishedAt[i] = clock[core];
    else queue.push(i);
  }
  return { coreCycles: Array.from(clock), finishedAt, switches };
}
