/**
 * The real host runs the FaaS description of `dedup-faas` and `tlb-flushes` (the same images,
 * configurations, launch arrivals, guest memory, boot work and KSM settings the simulated host
 * runs, src/experiments/dedup/faas.ts) on this machine: one unimem-vmm process per VM, launched
 * back to back at `launchPerSecond`, guest memory sampled every second from every VMM's
 * smaps_rollup plus the KSM counters, TLB flushes counted with perf. It returns the simulated
 * host's result shape (ConfigRun) so that the experiment builds the same tables from either host.
 *
 * What the guests do: each boots its image (the platform library writes the model's heap and
 * stack, `heapInitKiB + stackKiB`, with per-instance content, passed on the command line), prints
 * its result, then serves the invocations of the simulated host's own Poisson schedule (the VMM
 * hands each out when its time has come, src/realhost/schedule.ts; the guest writes its working
 * set) and stays resident.
 *
 * KSM's work is read from its tracepoints (merges, new KSM pages, full scans; perf.ts) and ksmd's
 * CPU time from /proc, beside the sysfs counters, so that the simulator's `merges`, `tlbFlushes`
 * (flush calls, as it counts them) and `cpuNs` have real counterparts.
 *
 * Host memory, as the simulator counts it (frames once however many VMs map them): the sum over
 * VMMs of Pss without Pss_Shmem (anonymous guest RAM, KSM pages split between their sharers, the
 * VMM's own memory), plus the pool's files on tmpfs counted once whether mapped or not.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { median } from '../base/stats.ts';
import { buildPool } from '../image/index.ts';
import type { ConfigRun, FaasModel, SharingConfig } from '../experiments/dedup/faas.ts';
import type { ImageSet, PreparedImage } from '../experiments/dedup/images.ts';
import { ksmdWorkZero, type KsmCounters } from '../host/index.ts';
import { applySettings, ksmdCpuNs, ksmdPid, readCounters, readSettings, settingsOf, type KsmSample } from './ksm.ts';
import { FlushRecorder, ksmEventsUntil, KsmTraceRecorder, ksmWork, type FlushCounts, type KsmEvent, type KsmEventTimes } from './perf.ts';
import { configRng, instanceSchedule, writeSchedule } from './schedule.ts';
import { readRollup, readSplit } from './smaps.ts';
import { RunState } from './state.ts';
import { parseTiming, saveCpuid, startVmm, type BootImage } from './vmm.ts';
import { instanceCmdline, instanceSnapshots, profileImages } from './profile.ts';
import type { BootProfileImage } from '../experiments/dedup/boot-profile.ts';

/** What both hosts run: the images, the configurations compared and the FaaS model. */
export interface FaasDescription {
  set: ImageSet;
  configs: readonly SharingConfig[];
  model: FaasModel;
}

export interface RealConfigRun extends ConfigRun {
  /** Explicit and task-switch TLB flushes by task (null when not counted). */
  flushes: FlushCounts | null;
  /** Medians over the VMMs at the end: own Pss, own private bytes, start-to-guest-entry µs. */
  vmmPssBytes: number;
  vmmPrivateBytes: number;
  setupMicros: number;
  /** Pool pages mapped into the guests: Rss summed over VMMs and Pss (shared: Pss << Rss). */
  poolRssBytes: number;
  poolPssBytes: number;
  /** VMs whose console did not show the image's expected line. */
  bootFailures: number;
  /** KSM's tracepoint counts at the end of the launch phase and after convergence (null without KSM). */
  ksmEvents: { end: Record<KsmEvent, number>; converged: Record<KsmEvent, number> } | null;
  /** What the VMs' boots wrote, per image, from their memory snapshots (null unless asked: `snapshots`). */
  bootProfile: BootProfileImage[] | null;
}

export interface RealRunOptions {
  /** The run's seed and experiment name: the invocation arrivals are the simulated host's (schedule.ts). */
  seed: number;
  experiment: string;
  countFlushes?: boolean;
  /** Bound on the convergence phase (two more full KSM scans), seconds. */
  convergeTimeoutSec?: number;
  /** Progress lines (terminal only). */
  log?: (line: string) => void;
  /** Where work directories go; a tmpfs, so that the pool is in memory. */
  workRoot?: string;
  /** Snapshot every VM's memory at load and boot and return the measured boot profile (profile.ts). */
  snapshots?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function vmstat(name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(fs.readFileSync('/proc/vmstat', 'utf8'));
  return m ? Number(m[1]) : 0;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of fs.readdirSync(dir)) n += fs.statSync(path.join(dir, f)).size;
  return n;
}

/**
 * KSM counters since `base` in the simulator's shape (cumulative ones as differences); ksmd's work
 * from its tracepoints and its CPU time.
 */
function ksmCounters(now: KsmSample, base: KsmSample, model: FaasModel, events: Record<KsmEvent, number>, cpuNs: number): KsmCounters {
  const work = ksmWork(events);
  return {
    ...ksmdWorkZero(),
    pagesShared: now.pages_shared,
    pagesSharing: now.pages_sharing,
    pagesUnshared: now.pages_unshared,
    pagesVolatile: now.pages_volatile,
    fullScans: now.full_scans - base.full_scans,
    pagesScanned: now.pages_scanned - base.pages_scanned,
    pagesSkipped: now.pages_skipped - base.pages_skipped,
    stableNodeChains: now.stable_node_chains,
    stableNodeDups: now.stable_node_dups,
    ksmZeroPages: now.ksm_zero_pages,
    rmapItems: 0,
    generalProfit: now.general_profit,
    merges: work.merges,
    tlbFlushes: work.flushCalls,
    cpuNs,
    pagesToScan: model.ksm.pagesToScan ?? 0,
  };
}

interface LiveVm {
  child: ChildProcess;
  pid: number;
  consoleFile: string;
  image: PreparedImage;
}

/** Stop every VM (SIGTERM, then SIGKILL after a grace period) and wait for them. */
async function stopAll(vms: LiveVm[], state: RunState): Promise<void> {
  const exits = vms.map((v) => (v.child.exitCode !== null || v.child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => v.child.once('exit', () => r()))));
  for (const v of vms) v.child.kill('SIGTERM');
  const grace = sleep(5000).then(() => vms.forEach((v) => v.child.exitCode === null && v.child.signalCode === null && v.child.kill('SIGKILL')));
  await Promise.race([Promise.all(exits), grace]);
  await Promise.all(exits);
  for (const v of vms) state.removeProcess(v.pid);
}

interface LoadPlan {
  bootImages: BootImage[];
  /** Per image: pages the loader copies and pages it maps from the pool. */
  load: { copied: number; mapped: number }[];
  /** The pool's files on tmpfs (0 without a pool). */
  poolBytes: number;
  /** The host's CPUID table, saved once for all VMMs. */
  cpuid: string;
}

/** What each VM boots: ELFs, or descriptions of a pool built from the images into `work`. */
export function planLoad(config: SharingConfig, images: PreparedImage[], work: string): LoadPlan {
  const cpuid = path.join(work, 'cpuid.bin');
  saveCpuid(cpuid);
  if (config.loader !== 'pool') return { bootImages: images.map((i) => ({ elf: i.elf })), load: images.map((i) => ({ copied: i.copyPages.gpa.length, mapped: 0 })), poolBytes: 0, cpuid };
  const poolDir = path.join(work, 'pool');
  const built = buildPool(poolDir, images.map((i) => i.elf));
  return {
    bootImages: built.images.map((i) => ({ description: i.description })),
    load: built.images.map((i) => ({ copied: Math.ceil(i.privateBytes / 4096), mapped: i.sharedBytes / 4096 })),
    poolBytes: dirBytes(path.join(poolDir, 'entries')),
    cpuid,
  };
}

/** Boot failures (console without the image's line), start-to-entry times and invocations served, from the consoles. */
function readConsoles(desc: FaasDescription, vms: LiveVm[]): { bootFailures: number; setups: number[]; invocations: number } {
  let bootFailures = 0;
  let invocations = 0;
  const setups: number[] = [];
  for (const v of vms) {
    const text = fs.readFileSync(v.consoleFile, 'utf8');
    if (!text.includes(expectedLine(desc, v.image))) bootFailures++;
    const t = parseTiming(text);
    if (t) {
      setups.push(t.setupMicros);
      invocations += t.invocations;
    }
  }
  return { bootFailures, setups, invocations };
}

/** One configuration in progress: its VMs, samples and clock. */
class ConfigRunner {
  readonly vms: LiveVm[] = [];
  readonly memoryMiB: number[] = [];
  readonly ksmPagesSharing: number[] = [];
  readonly t0 = Date.now();
  /** The same instant on CLOCK_MONOTONIC: the VMMs' invocation schedules count from it. */
  readonly t0Mono = process.hrtime.bigint();
  readonly ksmBase = readCounters();

  constructor(
    private readonly desc: FaasDescription,
    private readonly config: SharingConfig,
    private readonly images: PreparedImage[],
    private readonly plan: LoadPlan,
    private readonly state: RunState,
    private readonly work: string,
    private readonly opts: RealRunOptions,
  ) {}

  hostBytes(): number {
    return this.vms.reduce((n, v) => {
      const r = readRollup(v.pid);
      return n + (r ? r.pss - r.pssShmem : 0);
    }, this.plan.poolBytes);
  }

  private launch(i: number): void {
    const m = this.desc.model;
    const consoleFile = path.join(this.work, `console-${i}.txt`);
    const cmdline = instanceCmdline(m, i);
    const invocations = path.join(this.work, `invocations-${i}.txt`);
    writeSchedule(invocations, instanceSchedule(this.desc.set, this.config, m, configRng(this.opts.seed, this.opts.experiment, this.config), i));
    const image = this.plan.bootImages[i % this.images.length];
    const snapshot = this.opts.snapshots ? path.join(this.work, `snap-${i}`) : undefined;
    const child = startVmm({ image, memMiB: m.vmMemoryMiB, mergeable: this.config.ksm, cmdline, invocations, epochNs: this.t0Mono, cpuid: this.plan.cpuid, snapshot }, consoleFile);
    if (child.pid === undefined) throw new Error('unimem-vmm could not be started');
    this.state.addProcess(child.pid);
    this.vms.push({ child, pid: child.pid, consoleFile, image: this.images[i % this.images.length] });
  }

  /** Launch back to back at launchPerSecond, sampling every second until durationSec. */
  async launchAndSample(): Promise<void> {
    const m = this.desc.model;
    const gapMs = 1000 / m.launchPerSecond;
    let next = 0;
    for (let second = 0; second <= m.durationSec; second++) {
      while (next < m.instances && next * gapMs <= second * 1000) {
        await sleep(this.t0 + next * gapMs - Date.now());
        this.launch(next++);
      }
      await sleep(this.t0 + second * 1000 - Date.now());
      this.memoryMiB.push(Math.round((this.hostBytes() / 1048576) * 100) / 100);
      if (this.config.ksm) this.ksmPagesSharing.push(readCounters().pages_sharing);
      this.opts.log?.(`${this.config.name}: ${second}/${m.durationSec} s, ${this.vms.length} VMs, ${this.memoryMiB[this.memoryMiB.length - 1]} MiB`);
    }
  }

  /** As the simulator: two more full scans with the VMs left alone (bounded), sampled every second. */
  async converge(fullScansAtEnd: number, timeoutSec: number): Promise<void> {
    const target = fullScansAtEnd + 2;
    const limit = Date.now() + timeoutSec * 1000;
    const scans = (): number => readCounters().full_scans - this.ksmBase.full_scans;
    for (let second = this.desc.model.durationSec + 1; scans() < target && Date.now() < limit; second++) {
      await sleep(this.t0 + second * 1000 - Date.now());
      this.ksmPagesSharing.push(readCounters().pages_sharing);
      this.opts.log?.(`${this.config.name}: converging, ${scans()}/${target} full scans`);
    }
  }
}

/** Run one configuration of the description on this machine. */
export async function runRealConfig(desc: FaasDescription, config: SharingConfig, state: RunState, opts: RealRunOptions): Promise<RealConfigRun> {
  const m = desc.model;
  const images = desc.set.byVariant.get(config.variant);
  if (!images) throw new Error(`no ${config.variant} images in the description`);
  const work = fs.mkdtempSync(path.join(opts.workRoot ?? '/dev/shm', 'unimem-run-'));
  state.addDir(work);
  const plan = planLoad(config, images, work);
  if (config.ksm) {
    state.rememberKsm(readSettings());
    applySettings(settingsOf(m.ksm));
  } else state.restoreKsm();
  const cowBase = vmstat('cow_ksm');
  const recorder = opts.countFlushes ? new FlushRecorder(work) : null;
  if (recorder?.pid) state.addProcess(recorder.pid, 'perf');
  const ksmTrace = config.ksm ? new KsmTraceRecorder(work) : null;
  if (ksmTrace?.pid) state.addProcess(ksmTrace.pid, 'perf');
  await Promise.all([recorder?.started, ksmTrace?.started]);
  const ksmd = ksmdPid();
  const ksmdCpuBase = ksmdCpuNs(ksmd);

  const run = new ConfigRunner(desc, config, images, plan, state, work, opts);
  await run.launchAndSample();
  const endBytes = run.hostBytes();
  const end = { sample: readCounters(), atSec: Number(process.hrtime.bigint()) / 1e9, cpuNs: ksmdCpuNs(ksmd) - ksmdCpuBase };
  let convergedAt: typeof end | null = null;
  if (config.ksm) {
    await run.converge(end.sample.full_scans - run.ksmBase.full_scans, opts.convergeTimeoutSec ?? 120);
    convergedAt = { sample: readCounters(), atSec: Number(process.hrtime.bigint()) / 1e9, cpuNs: ksmdCpuNs(ksmd) - ksmdCpuBase };
  }
  const convergedBytes = run.hostBytes();
  const splits = run.vms.map((v) => readSplit(v.pid)).filter((x) => x !== null);
  const flushes = recorder ? await recorder.count() : null;
  if (recorder?.pid) state.removeProcess(recorder.pid);
  const ksmTimes: KsmEventTimes | null = ksmTrace ? await ksmTrace.events() : null;
  if (ksmTrace?.pid) state.removeProcess(ksmTrace.pid);
  const ksmEvents = ksmTimes && convergedAt ? { end: ksmEventsUntil(ksmTimes, end.atSec), converged: ksmEventsUntil(ksmTimes, convergedAt.atSec) } : null;
  const ksmEnd = ksmEvents ? ksmCounters(end.sample, run.ksmBase, m, ksmEvents.end, end.cpuNs) : null;
  const converged: ConfigRun['converged'] = ksmEvents && convergedAt ? { endBytes: convergedBytes, ksm: ksmCounters(convergedAt.sample, run.ksmBase, m, ksmEvents.converged, convergedAt.cpuNs) } : null;
  const cowBreaks = vmstat('cow_ksm') - cowBase;
  await stopAll(run.vms, state);
  const { bootFailures, setups, invocations } = readConsoles(desc, run.vms);
  const bootProfile = opts.snapshots ? measuredProfile(desc, config, run.vms, work) : null;
  state.removeDir(work);
  if (config.ksm) state.restoreKsm();
  const n = Math.max(1, run.vms.length);
  const perVm = (f: (l: { copied: number; mapped: number }) => number): number => run.vms.reduce((t, _, i) => t + f(plan.load[i % plan.load.length]), 0) / n;
  const med = (xs: number[]): number => (xs.length ? median(xs) : 0);
  return {
    config,
    memoryMiB: run.memoryMiB,
    endBytes,
    ksmPagesSharing: run.ksmPagesSharing,
    ksm: ksmEnd,
    converged,
    // ksmd's flush calls, counted as the simulator counts them (perf.ts ksmWork); the real flushes
    // the tlb:tlb_flush tracepoint saw are in `flushes`.
    flushesKsm: ksmEnd ? ksmEnd.tlbFlushes : 0,
    flushesVm: flushes ? flushes.explicit.vmm + flushes.explicit.vcpu : 0,
    cowBreaks,
    loadPagesCopied: perVm((l) => l.copied),
    loadPagesMapped: perVm((l) => l.mapped),
    loadMicros: Math.round(med(setups) * 10) / 10,
    poolPages: plan.poolBytes / 4096,
    invocations,
    started: run.vms.length,
    flushes,
    vmmPssBytes: med(splits.map((x) => x.vmmPss)),
    vmmPrivateBytes: med(splits.map((x) => x.vmmPrivate)),
    setupMicros: med(setups),
    poolRssBytes: splits.reduce((t, x) => t + x.poolRss, 0),
    poolPssBytes: splits.reduce((t, x) => t + x.poolPss, 0),
    bootFailures,
    ksmEvents,
    bootProfile,
  };
}

/** The boot profile of a configuration's VMs from their snapshots (VMs that did not boot are left out). */
function measuredProfile(desc: FaasDescription, config: SharingConfig, vms: LiveVm[], work: string): BootProfileImage[] {
  const snaps = vms.map((v, i) => instanceSnapshots(v.image.elf, path.join(work, `snap-${i}`))).filter((s) => s !== null);
  return profileImages(desc, config, snaps).images;
}

/** The line an image prints (the same under Linux and under the VMM). */
function expectedLine(desc: FaasDescription, image: PreparedImage): string {
  const m = desc.set.manifest.images.find((i) => i.elf === image.elf);
  return m ? m.output.trim().split('\n').pop()! : image.name;
}

/**
 * Run `fn` with a run state: leftovers of a killed run are cleaned first, everything this run
 * changes is undone at the end, on an error, on Ctrl-C and on SIGTERM.
 */
export async function withRealHost<T>(fn: (state: RunState) => Promise<T>, log?: (line: string) => void): Promise<T> {
  const { run, cleaned } = RunState.begin();
  if (cleaned.length > 0) log?.(`cleaned what an earlier run left: ${cleaned.join(', ')}`);
  const onSignal = (sig: NodeJS.Signals): void => {
    run.end();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(run);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    run.end();
  }
}

/** Run every configuration of the description on this machine. */
export async function runRealFaas(desc: FaasDescription, opts: RealRunOptions): Promise<RealConfigRun[]> {
  return withRealHost(async (state) => {
    const runs: RealConfigRun[] = [];
    for (const c of desc.configs) runs.push(await runRealConfig(desc, c, state, opts));
    return runs;
  }, opts.log);
}
