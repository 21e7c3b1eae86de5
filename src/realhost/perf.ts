/**
 * TLB flushes counted with the `tlb:tlb_flush` tracepoint (`perf record -a`), attributed by task
 * as the SoCC'22 traces were (dedup.md §1.7: `ksm` for ksmd, `vcpu` for the vCPU threads, `fire`
 * for the VMM): ksmd, the VMM's main thread, its vCPU thread, other tasks. The tracepoint's reason
 * separates explicit flushes (local and remote shootdowns, IPIs sent) from the CR3 reloads of a task
 * switch; the figures compared with the simulator are the explicit ones, which are what the
 * paper's flush_tlb_* functions do.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { VCPU_COMM, VMM_COMM } from './vmm.ts';

export type FlushTask = 'ksmd' | 'vmm' | 'vcpu' | 'other';
export const FLUSH_TASKS: readonly FlushTask[] = ['ksmd', 'vmm', 'vcpu', 'other'];

export interface FlushCounts {
  /** Explicit flushes (shootdowns, IPIs) per task. */
  explicit: Record<FlushTask, number>;
  /** CR3 reloads on task switch per task. */
  taskSwitch: Record<FlushTask, number>;
}

const zero = (): Record<FlushTask, number> => ({ ksmd: 0, vmm: 0, vcpu: 0, other: 0 });

export function taskOf(comm: string): FlushTask {
  if (comm === 'ksmd') return 'ksmd';
  if (comm === VCPU_COMM) return 'vcpu';
  // KVM's per-VM helper thread (kvm-nx-lpage-recovery) lives in the VMM process.
  if (comm === VMM_COMM || comm.startsWith('kvm-nx-lpage')) return 'vmm';
  return 'other';
}

/** Count `perf script -F comm,tid,trace` lines of tlb:tlb_flush events. */
export function countFlushes(script: string): FlushCounts {
  const c: FlushCounts = { explicit: zero(), taskSwitch: zero() };
  for (const line of script.split('\n')) {
    const m = /^\s*(.*?)\s+(\d+)\s+pages:-?\d+ reason:(.*?) \((\d+)\)\s*$/.exec(line);
    if (!m) continue;
    const task = taskOf(m[1]);
    if (m[4] === '0') c.taskSwitch[task]++;
    else c.explicit[task]++;
  }
  return c;
}

/** Is the tracepoint usable here? A one-line reason when not. */
export function perfAvailable(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync('perf', ['stat', '-x,', '-e', 'tlb:tlb_flush', '-a', 'true'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { ok: false, reason: `perf cannot be run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install linux-perf` };
  if (r.status !== 0 || /not supported|unknown tracepoint|event syntax error/i.test(r.stderr)) return { ok: false, reason: `perf cannot count tlb:tlb_flush: ${r.stderr.trim().split('\n')[0]}` };
  return { ok: true };
}

/** A running system-wide recording of tlb:tlb_flush. */
export class FlushRecorder {
  private child: ChildProcess;

  constructor(private readonly dataFile: string) {
    this.child = spawn('perf', ['record', '-q', '-e', 'tlb:tlb_flush', '-a', '-o', dataFile], { stdio: 'ignore' });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stop recording and count. */
  async stop(): Promise<FlushCounts> {
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.exitCode === null) this.child.kill('SIGINT');
    await done;
    const r = spawnSync('perf', ['script', '-i', this.dataFile, '-F', 'comm,tid,trace'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    fs.rmSync(this.dataFile, { force: true });
    return countFlushes(r.stdout ?? '');
  }
}
