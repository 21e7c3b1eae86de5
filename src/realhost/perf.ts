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
import * as path from 'node:path';
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
export function perfAvailable(event = 'tlb:tlb_flush'): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync('perf', ['stat', '-x,', '-e', event, '-a', 'true'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return { ok: false, reason: `perf cannot be run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install linux-perf` };
  if (r.status !== 0 || /not supported|unknown tracepoint|event syntax error/i.test(r.stderr)) return { ok: false, reason: `perf cannot count ${event}: ${r.stderr.trim().split('\n')[0]}` };
  return { ok: true };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A system-wide `perf record` of tracepoints into `DIR/NAME.data`. perf starts with its events
 * disabled and is enabled through its control FIFO; `started` resolves once perf acknowledged,
 * so that nothing the run does afterwards is missed (perf's own start-up takes about a second
 * on a busy machine, and KSM merges start within it).
 */
class PerfRecording {
  private readonly child: ChildProcess;
  private readonly dataFile: string;
  private readonly ctl: string;
  private readonly ack: string;
  /** Set when perf could not be started (for example missing). */
  private failed: Error | null = null;
  readonly started: Promise<void>;

  constructor(dir: string, name: string, events: string[]) {
    this.dataFile = path.join(dir, `${name}.data`);
    this.ctl = path.join(dir, `${name}.ctl`);
    this.ack = path.join(dir, `${name}.ack`);
    spawnSync('mkfifo', [this.ctl, this.ack]);
    this.child = spawn('perf', ['record', '-q', '-D', '-1', '--control', `fifo:${this.ctl},${this.ack}`, ...events, '-a', '-o', this.dataFile], { stdio: 'ignore' });
    this.child.on('error', (e) => (this.failed = e));
    this.started = this.enable(60_000);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Write `enable` to the control FIFO and wait (polling, never blocking) for perf's ack. */
  private async enable(timeoutMs: number): Promise<void> {
    // O_RDWR opens of a FIFO never block, whether perf has opened its end or not.
    const ctl = fs.openSync(this.ctl, fs.constants.O_RDWR);
    const ack = fs.openSync(this.ack, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      fs.writeSync(ctl, 'enable\n');
      const buf = Buffer.alloc(16);
      for (const limit = Date.now() + timeoutMs; Date.now() < limit && this.child.exitCode === null && !this.failed; ) {
        try {
          if (fs.readSync(ack, buf, 0, buf.length, null) > 0) return;
        } catch {
          // EAGAIN: not acknowledged yet
        }
        await sleep(20);
      }
      throw new Error(`perf record did not start (${this.failed ? this.failed.message : this.child.exitCode === null ? 'no answer' : `exit ${this.child.exitCode}`})`);
    } finally {
      fs.closeSync(ctl);
      fs.closeSync(ack);
    }
  }

  /** Stop recording and return `perf script -F fields`. */
  async stop(fields: string): Promise<string> {
    if (!this.failed && this.child.exitCode === null && this.child.signalCode === null) {
      const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGINT');
      await done;
    }
    const r = spawnSync('perf', ['script', '-i', this.dataFile, '-F', fields], { encoding: 'utf8', maxBuffer: 1 << 30 });
    for (const f of [this.dataFile, this.ctl, this.ack]) fs.rmSync(f, { force: true });
    return r.stdout ?? '';
  }
}

/** A running system-wide recording of tlb:tlb_flush. */
export class FlushRecorder extends PerfRecording {
  constructor(dir: string) {
    super(dir, 'perf-tlb', ['-e', 'tlb:tlb_flush']);
  }

  /** Stop recording and count. */
  async count(): Promise<FlushCounts> {
    return countFlushes(await this.stop('comm,tid,trace'));
  }
}

/**
 * KSM's own tracepoints (kernel mm/ksm.c), recorded with CLOCK_MONOTONIC timestamps so that a run
 * can count them up to any moment (the end of the launch phase, the end of convergence):
 * - `ksm_merge_with_ksm_page` with err 0 and no KSM page: a page write-protected in place that
 *   becomes a new KSM page (the first of a pair, try_to_merge_two_pages);
 * - the same with a KSM page: a page merged into an existing KSM page (write_protect_page, then
 *   replace_page);
 * - `ksm_merge_one_page` with err 0: a page merged with the zero page (use_zero_pages);
 * - `ksm_stop_scan`: a full scan completed.
 */
export type KsmEvent = 'newKsmPage' | 'mergedIntoKsmPage' | 'mergedWithZeroPage' | 'fullScan';
export const KSM_EVENTS: readonly KsmEvent[] = ['newKsmPage', 'mergedIntoKsmPage', 'mergedWithZeroPage', 'fullScan'];

/** Event times (s, CLOCK_MONOTONIC) per kind. */
export type KsmEventTimes = Record<KsmEvent, number[]>;

/** Parse `perf script -F time,event,trace` lines of the ksm events recorded by KsmTraceRecorder. */
export function parseKsmEvents(script: string): KsmEventTimes {
  const out: KsmEventTimes = { newKsmPage: [], mergedIntoKsmPage: [], mergedWithZeroPage: [], fullScan: [] };
  for (const line of script.split('\n')) {
    const m = /^\s*(\d+\.\d+):\s+ksm:(\w+):\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const t = Number(m[1]);
    const error = /error (-?\d+)$/.exec(m[3]);
    if (m[2] === 'ksm_stop_scan') out.fullScan.push(t);
    else if (error && error[1] !== '0') continue;
    else if (m[2] === 'ksm_merge_with_ksm_page') (m[3].startsWith('ksm ') ? out.mergedIntoKsmPage : out.newKsmPage).push(t);
    else if (m[2] === 'ksm_merge_one_page') out.mergedWithZeroPage.push(t);
  }
  return out;
}

/** Counts of each kind of event up to `untilSec` (CLOCK_MONOTONIC, s). */
export function ksmEventsUntil(times: KsmEventTimes, untilSec: number): Record<KsmEvent, number> {
  const n = (xs: number[]): number => xs.filter((t) => t <= untilSec).length;
  return { newKsmPage: n(times.newKsmPage), mergedIntoKsmPage: n(times.mergedIntoKsmPage), mergedWithZeroPage: n(times.mergedWithZeroPage), fullScan: n(times.fullScan) };
}

/**
 * Merges as the simulated host counts them (pages mapped to a KSM page or the zero page), and
 * ksmd's calls of the TLB flush functions the same way the simulator and the SoCC'22 traces count
 * them: one ptep_clear_flush in write_protect_page for every page KSM takes (new KSM pages and
 * merged pages; our guest pages are written, so their PTEs are writable or dirty), and one more in
 * replace_page for every merged page. The kernel here has no kprobes and refuses the function
 * tracer (docs/realhost.md), so the calls are derived from the merge events instead of counted.
 */
export function ksmWork(c: Record<KsmEvent, number>): { merges: number; flushCalls: number } {
  const merges = c.mergedIntoKsmPage + c.mergedWithZeroPage;
  return { merges, flushCalls: c.newKsmPage + 2 * merges };
}

/** A running system-wide recording of KSM's tracepoints, timed on CLOCK_MONOTONIC. */
export class KsmTraceRecorder extends PerfRecording {
  constructor(dir: string) {
    super(dir, 'perf-ksm', ['-k', 'CLOCK_MONOTONIC', '-e', 'ksm:ksm_merge_with_ksm_page', '--filter', 'err == 0', '-e', 'ksm:ksm_merge_one_page', '--filter', 'err == 0', '-e', 'ksm:ksm_stop_scan']);
  }

  async events(): Promise<KsmEventTimes> {
    return parseKsmEvents(await this.stop('time,event,trace'));
  }
}
