/**
 * The FaaS unikernel model shared by `dedup-faas` and `tlb-flushes`: many unikernel VMs started
 * back to back on one host, each booting its image, initialising a heap and then serving
 * invocations, while KSM (or nothing) runs, sampled every simulated second.
 *
 * A unikernel is modelled directly on a HostVm (one guest-physical region, identity-mapped as
 * Unikraft runs on Firecracker: the image at its link address 0x100000, heap after it). There is no
 * guest kernel model. Load and boot run on the host's side: every store of boot reaches the host as
 * an EPT violation (first touch or write to a read-only leaf) followed by a content change, exactly
 * what a vCPU would cause for these pages. Invocations run on the host's cores when `cores` is set
 * (src/experiments/dedup/cores.ts): each VM has one vCPU pinned to a core, and an invocation's page
 * touches go through the core's TLBs and the nested walk, so the host's flushes (KSM merges, COW
 * breaks) cost the VM later TLB misses. Without `cores` an invocation's stores reach the host
 * directly, as boot's do; host memory is the same either way.
 *
 * Per VM:
 * - load: the standard loader copies the image's file-backed pages, or the pool loader maps the
 *   pool's frames and copies the private sections (src/host/loader.ts); the VMM writes the boot
 *   page tables (PML4, PDPT, PD at 0x9000-0xbfff, native/vmm/vmm.c), the same bytes in every VM;
 * - boot: bss pages zero-filled on first touch, then the frame of the system call that waits for
 *   the first invocation on the CPL0 stack (the image's content); the heap's first `heapInitKiB`
 *   written with per-instance content (allocator metadata, initialised data) and a `stackKiB` stack;
 * - invocations: Poisson arrivals (src/workload/faas.ts) at `invocationsPerSecond` per instance; an
 *   invocation writes its function's working set (one per application, jittered) with fresh content,
 *   then its closing system call rewrites the CPL0 stack pages it runs on with the bytes they held
 *   (src/experiments/dedup/invocation-stack.ts), which breaks a KSM-merged copy of them.
 * - host memory: allocated host frames (shared frames once, pool frames, EPT tables) plus the VMM's
 *   per-VM overhead.
 */
import { UserError } from '../../base/errors.ts';
import { contentFingerprint as importedContentFingerprint } from '../../base/hash.ts';
import type { Rng } from '../../base/rng.ts';
import { alignUp, GiB, MiB, PAGE_4K as IMPORTED_PAGE_4K } from '../../base/units.ts';
import { Translation } from '../../hw/pagetable.ts';
import { HostBackend, Ksm, loadCopy, loadFromPool, type HostConfig, type HostVm, type KsmCounters, type KsmParams, type PoolImage } from '../../host/index.ts';
import { SimHost } from '../../sim/host.ts';
import { BOOT_TABLE_GPA, BOOT_TABLE_PAGES, bootTableFingerprint, FaasCores, type CoreFigures, type CoresModel } from './cores.ts';
import { createFaasArrivals, FaasArrivals, Invocation } from '../../workload/faas.ts';
import { preparePool, type ImageSet, type PreparedImage } from './images.ts';
import { rewriteStackPages } from './invocation-stack.ts';
import type { ImageVariant } from '../../image/index.ts';
import { applyBootProfile, profileFor, type BootProfile, type BootProfileImage } from './boot-profile.ts';

/**
 * Module-local copies of imports used once per page written: the TypeScript loader turns each use
 * of an imported binding into a getter call (see the speed section of docs/machine.md).
 */
const PAGE_4K = IMPORTED_PAGE_4K;
const contentFingerprint = importedContentFingerprint;

/** One configuration compared by the experiments. */
export interface SharingConfig {
  name: string;
  variant: ImageVariant;
  loader: 'copy' | 'pool';
  ksm: boolean;
}

/** Host clock for converting load costs to time [assumption: the host back-end's default, a typical server clock]. */
const CLOCK_GHZ = 2.6;

export const SHARING_CONFIGS: readonly SharingConfig[] = [
  { name: 'no sharing', variant: 'compact', loader: 'copy', ksm: false },
  { name: 'compact + KSM', variant: 'compact', loader: 'copy', ksm: true },
  { name: 'DCE + KSM', variant: 'dce', loader: 'copy', ksm: true },
  { name: 'aligned + KSM', variant: 'aligned', loader: 'copy', ksm: true },
  { name: 'pool loader', variant: 'aligned', loader: 'pool', ksm: false },
  { name: 'pool loader + ASLR', variant: 'aligned-aslr', loader: 'pool', ksm: false },
];

export interface FaasModel {
  instances: number;
  durationSec: number;
  /** VMs started per second, back to back. */
  launchPerSecond: number;
  vmMemoryMiB: number;
  heapInitKiB: number;
  stackKiB: number;
  invocationsPerSecond: number;
  /** Working set per application, cycled over the applications in order. */
  workingSetsKiB: number[];
  jitter: number;
  vmmOverheadMiB: number;
  ksm: Partial<KsmParams>;
  /** Simulation step, ms (invocations and ksmd are interleaved at this granularity). */
  stepMs: number;
  /**
   * Which bss pages boot touches (a convention, docs/realhost.md): 'all' zero-fills every bss page
   * (the default: a unikernel that clears its bss), 'none' leaves them to the guest's own writes,
   * which this model does not know (a real guest touches a few); 'measured' writes what a real
   * boot wrote instead (bss, the VMM's boot structures, the application's heap and stack: the
   * `bootProfile`, src/experiments/dedup/boot-profile.ts).
   */
  bssAtBoot?: 'all' | 'none' | 'measured';
  /** The measured boot profile `bssAtBoot: 'measured'` writes (docs/realhost.md). */
  bootProfile?: BootProfile | null;
  /** Run invocations on the host's cores through each VM's vCPU (src/experiments/dedup/cores.ts); absent or null: the memory model alone. */
  cores?: CoresModel | null;
}

export interface ConfigRun {
  config: SharingConfig;
  /** Host memory per simulated second (index = second, 0 = start), MiB. */
  memoryMiB: number[];
  /** Host memory at the end, bytes. */
  endBytes: number;
  /** KSM pages_sharing per second, through the convergence phase (empty without KSM). */
  ksmPagesSharing: number[];
  ksm: KsmCounters | null;
  /** KSM after running to convergence with the VMs frozen (two more full scans); null without KSM. */
  converged: { endBytes: number; ksm: KsmCounters } | null;
  /** TLB flushes issued by ksmd, and by the VMs themselves (COW breaks, unmaps). */
  flushesKsm: number;
  flushesVm: number;
  cowBreaks: number;
  /** Mean per-instance load: pages copied, pages mapped, estimated µs. */
  loadPagesCopied: number;
  loadPagesMapped: number;
  loadMicros: number;
  poolPages: number;
  invocations: number;
  started: number;
  /** The invocations run on the host's cores; null or absent when the model has none (the real host reports none). */
  cores?: CoreFigures | null;
}

interface Instance {
  vm: HostVm;
  /** Index of the VM's vCPU on the cores, -1 without cores. */
  vcpu: number;
  arrivals: FaasArrivals;
  next: Invocation;
  heapBase: number;
  /** The CPL0 stack pages each invocation writes (the image's, src/experiments/dedup/invocation-stack.ts). */
  stackPages: Float64Array;
  invocations: number;
}

/** The host a configuration runs on: the configured machine's cores when the model has them. */
function sharingHost(model: FaasModel): { backend: HostBackend; cores: FaasCores | null; clockGHz: number } {
  const hostConfig: HostConfig = { tiers: [{ tier: 'ddr4', bytes: GiB(Math.max(16, Math.ceil((model.instances * model.vmMemoryMiB) / 1024) + 8)) }], variant: 'baseline', policy: { hugeBacking: 'never' } };
  if (!model.cores) return { backend: new HostBackend({ ...hostConfig, clockGHz: CLOCK_GHZ }), cores: null, clockGHz: CLOCK_GHZ };
  // With cores, the host is the configured machine (its clock prices the host's work too).
  const simHost = new SimHost({ host: hostConfig, cpu: model.cores.cpu, cores: model.cores.cores, vpid: model.cores.vpid });
  return { backend: simHost.backend, cores: new FaasCores(simHost.machine, MiB(model.vmMemoryMiB), model.cores.quantumMs), clockGHz: simHost.cpu.clockGHz };
}

/** One configuration of the FaaS model in progress: its host, instances and samples. */
class SharingRun {
  private readonly backend: HostBackend;
  private readonly cores: FaasCores | null;
  private readonly clockGHz: number;
  private readonly images: PreparedImage[];
  private readonly poolImages: PoolImage[] = [];
  private readonly poolPages: number = 0;
  private readonly ksm: Ksm | null;
  private readonly appNames: string[];
  private readonly instances: Instance[] = [];
  // Each instance's next invocation time, which every step reads for every instance: a flat array
  // rather than a walk over the instance objects (10,000 instances x 6,000 steps).
  private readonly nextAt: Float64Array;
  private readonly tr = new Translation();
  private readonly overhead: number;
  private readonly launchGapNs: number;
  readonly memoryMiB: number[] = [];
  readonly ksmPagesSharing: number[] = [];
  private loadCopied = 0;
  private loadMapped = 0;
  private loadCycles = 0;
  private invocations = 0;
  private started = 0;
  /** Per image (ELF path), the measured boot writes when `bssAtBoot` is 'measured'. */
  private readonly profile: Map<string, BootProfileImage> | null;
  /** Called with each VM after its loader ran, before boot (page-by-page comparison, src/realhost/profile.ts). */
  afterLoad: ((vm: HostVm, backend: HostBackend) => void) | null = null;

  constructor(
    set: ImageSet,
    private readonly config: SharingConfig,
    private readonly model: FaasModel,
    private readonly rng: Rng,
  ) {
    ({ backend: this.backend, cores: this.cores, clockGHz: this.clockGHz } = sharingHost(model));
    this.images = set.byVariant.get(config.variant)!;
    for (const img of this.images) checkBootTablesFree(img);
    if (config.loader === 'pool') {
      const p = preparePool(set, config.variant, this.backend.memory);
      this.poolImages = p.images;
      this.poolPages = p.sharedPages;
    }
    this.ksm = config.ksm ? new Ksm(this.backend.memory, model.ksm) : null;
    this.appNames = [...new Set(this.images.map((i) => i.name))];
    this.nextAt = new Float64Array(model.instances);
    this.overhead = MiB(model.vmmOverheadMiB);
    this.launchGapNs = 1e9 / model.launchPerSecond;
    this.profile = measuredBoot(model, this.images, config);
  }

  /** The backend's memory and VMs so far (page-by-page comparison). */
  get vms(): { vm: HostVm; backend: HostBackend }[] {
    return this.instances.map((i) => ({ vm: i.vm, backend: this.backend }));
  }

  private hostBytes(): number {
    return this.backend.memory.allocatedFrames * PAGE_4K + this.instances.length * this.overhead;
  }

  /** Load and boot instance i at `nowNs`: it runs application i mod apps; ASLR images cycle through the randomised instances. */
  start(i: number, nowNs: number): void {
    const { model, config, tr } = this;
    const img: PreparedImage = this.images[i % this.images.length];
    const vm = this.backend.createVmWithRegions([{ gpaStart: 0, bytes: MiB(model.vmMemoryMiB), tier: -1, hugeBacking: false }]);
    // The VMM marks guest memory mergeable when it creates it, before it loads the image
    // (unimem-vmm, as the authors' patched Firecracker). ksmd's batches due by now run first; the
    // first VM wakes an idle ksmd, which finds its guest memory still empty (a full scan of
    // nothing, as on this machine: docs/realhost.md).
    if (this.ksm) {
      this.ksm.advance(nowNs);
      this.ksm.register(vm, nowNs);
      this.ksm.advance(nowNs);
    }
    const r = config.loader === 'pool' ? loadFromPool(vm, this.poolImages[i % this.images.length], this.backend.costs) : loadCopy(vm, img.copyPages, this.backend.costs);
    this.loadCopied += r.pagesCopied;
    this.loadMapped += r.pagesMapped;
    this.loadCycles += r.cycles;
    this.afterLoad?.(vm, this.backend);
    const heapBase = alignUp(img.imageEnd, PAGE_4K);
    const initPages = Math.ceil((model.heapInitKiB + model.stackKiB) / 4);
    if (this.profile) applyBootProfile(vm, this.profile.get(img.elf)!, Math.floor(i / this.images.length), heapBase, heapBase + initPages * PAGE_4K, (gpa, fp) => vm.writePage(gpa, fp));
    else {
      for (let k = 0; k < BOOT_TABLE_PAGES; k++) vm.writePage(BOOT_TABLE_GPA + k * PAGE_4K, bootTableFingerprint(k));
      // Boot: bss zero-filled on first touch.
      if (model.bssAtBoot !== 'none') for (let k = 0; k < img.zeroPages.length; k++) if (!vm.ept.lookup(img.zeroPages[k], tr)) vm.eptViolation(img.zeroPages[k], true);
      // Boot ends in the system call that waits for the first invocation: its frame on the CPL0 stack.
      const stack = img.invocationStack;
      for (let k = 0; k < stack.pages.length; k++) vm.writePage(stack.pages[k], stack.fingerprints[k]);
    }
    // The boot work: heap initialised, a stack.
    for (let k = 0; k < initPages; k++) vm.writePage(heapBase + k * PAGE_4K, contentFingerprint(vm.id + 1, k, 1));
    const appIdx = this.appNames.indexOf(img.name);
    const ws = model.workingSetsKiB[appIdx % model.workingSetsKiB.length] * 1024;
    const arrivals = createFaasArrivals(this.rng.fork(`faas/${i}`), { ratePerSecond: model.invocationsPerSecond, jitter: model.jitter, functions: [{ name: img.name, weight: 1, workingSetBytes: ws }] });
    const next = new Invocation();
    arrivals.next(next);
    next.timeNs += i * this.launchGapNs;
    this.nextAt[this.instances.length] = next.timeNs;
    // The vCPU enters after boot: nothing of the VM is cached on its core before its first invocation.
    const vcpu = this.cores ? this.cores.attach(vm) : -1;
    this.instances.push({ vm, vcpu, arrivals, next, heapBase: heapBase + initPages * PAGE_4K, stackPages: img.invocationStack.pages, invocations: 0 });
  }

  private invoke(inst: Instance): void {
    const pages = Math.ceil(inst.next.workingSetBytes / PAGE_4K);
    const limit = Math.min(pages, (MiB(this.model.vmMemoryMiB) - inst.heapBase) / PAGE_4K);
    inst.invocations++;
    this.invocations++;
    if (this.cores) {
      this.cores.queue(inst.vcpu, inst.vm, inst.heapBase, limit, inst.invocations + 1, inst.stackPages);
      return;
    }
    const vm = inst.vm;
    for (let k = 0; k < limit; k++) vm.writePage(inst.heapBase + k * PAGE_4K, contentFingerprint(vm.id + 1, k, inst.invocations + 1));
    // The system call that waits for the next invocation rewrites the CPL0 stack's frame with the
    // bytes it held (the same code path every time): a merged copy is broken (docs/ksm.md,
    // "Invocations and the CPL0 stack").
    rewriteStackPages(vm, inst.stackPages);
  }

  /** One step of `stepMs` ending at t: launches, due invocations, ksmd's batch, samples each second. */
  step(t: number): void {
    const { model, instances, nextAt, ksm } = this;
    while (this.started < model.instances && this.started * this.launchGapNs <= t) this.start(this.started++, t);
    for (let k = 0; k < instances.length; k++) {
      if (nextAt[k] > t) continue;
      const inst = instances[k];
      while (inst.next.timeNs <= t) {
        this.invoke(inst);
        const launch = k * this.launchGapNs;
        inst.arrivals.next(inst.next);
        inst.next.timeNs += launch;
      }
      nextAt[k] = inst.next.timeNs;
    }
    // The step's invocations run on their cores before ksmd's next batch.
    this.cores?.runQueued();
    if (ksm) ksm.advance(t);
    if (t % 1e9 === 0) this.memoryMiB.push(Math.round((this.hostBytes() / MiB(1)) * 100) / 100);
    if (ksm && t % 1e9 === 0) this.ksmPagesSharing.push(ksm.counters().pagesSharing);
  }

  /** The run's figures at `endNs`, then KSM run to convergence with the VMs frozen (two more full scans). */
  finish(endNs: number): ConfigRun {
    const { ksm, instances } = this;
    const endBytes = this.hostBytes();
    let flushesAll = 0;
    let cow = 0;
    for (const inst of instances) {
      flushesAll += inst.vm.counters.tlbFlushes;
      cow += inst.vm.counters.cowBreaks;
    }
    const ksmEnd = ksm ? ksm.counters() : null;
    // Figures of the run proper, before the convergence phase (in which no VM runs).
    const coreFigures = this.cores ? this.cores.figures() : null;
    const flushesKsm = ksmEnd ? ksmEnd.tlbFlushes : 0;
    let converged: ConfigRun['converged'] = null;
    if (ksm) {
      const target = ksm.fullScans + 2;
      let t = endNs;
      while (ksm.fullScans < target) {
        t += 1e9;
        ksm.advance(t);
        this.ksmPagesSharing.push(ksm.counters().pagesSharing);
      }
      converged = { endBytes: this.hostBytes(), ksm: ksm.counters() };
    }
    const n = Math.max(1, instances.length);
    const cyclesPerUs = this.clockGHz * 1000;
    return {
      config: this.config,
      memoryMiB: this.memoryMiB,
      endBytes,
      ksmPagesSharing: this.ksmPagesSharing,
      ksm: ksmEnd,
      converged,
      flushesKsm,
      flushesVm: flushesAll - flushesKsm,
      cowBreaks: cow,
      loadPagesCopied: this.loadCopied / n,
      loadPagesMapped: this.loadMapped / n,
      loadMicros: Math.round((this.loadCycles / n / cyclesPerUs) * 10) / 10,
      poolPages: this.poolPages,
      invocations: this.invocations,
      started: this.started,
      cores: coreFigures,
    };
  }
}

/** The measured boot writes per image, or null under the modelled conventions. */
function measuredBoot(model: FaasModel, images: readonly PreparedImage[], config: SharingConfig): Map<string, BootProfileImage> | null {
  if (model.bssAtBoot !== 'measured') return null;
  if (!model.bootProfile) throw new UserError('bssAtBoot measured needs a boot profile: bootProfile FILE (written by `unimem host profile`), or --host both, which measures it');
  return profileFor(model.bootProfile, images, config.loader, model);
}

/**
 * The first `count` instances of a configuration right after boot, before any invocation, with
 * `afterLoad` called between each VM's load and boot: what the simulated boot leaves in guest
 * memory, for the page-by-page comparison with real guests (src/realhost/profile.ts).
 */
export function bootedInstances(set: ImageSet, config: SharingConfig, model: FaasModel, rng: Rng, count: number, afterLoad: (vm: HostVm, backend: HostBackend) => void): { vm: HostVm; backend: HostBackend }[] {
  const run = new SharingRun(set, config, model, rng);
  run.afterLoad = afterLoad;
  for (let i = 0; i < count; i++) run.start(i, 0);
  return run.vms;
}

/** Run one configuration of the FaaS model. */
export function runSharingConfig(set: ImageSet, config: SharingConfig, model: FaasModel, rng: Rng): ConfigRun {
  const run = new SharingRun(set, config, model, rng);
  const stepNs = model.stepMs * 1e6;
  const endNs = model.durationSec * 1e9;
  for (let t = 0; t <= endNs; t += stepNs) run.step(t);
  return run.finish(endNs);
}

/** The VMM's boot page tables go at 0x9000-0xbfff: an image that loads there cannot run this way. */
function checkBootTablesFree(img: PreparedImage): void {
  const end = BOOT_TABLE_GPA + BOOT_TABLE_PAGES * PAGE_4K;
  const clash = (gpa: number): boolean => gpa >= BOOT_TABLE_GPA && gpa < end;
  const at = [...img.copyPages.gpa, ...img.zeroPages].find(clash);
  if (at !== undefined) throw new UserError(`${img.elf}: a PT_LOAD page at 0x${at.toString(16)} overlaps the VMM's boot page tables (0x${BOOT_TABLE_GPA.toString(16)}-0x${(end - 1).toString(16)}); link the image above them (Unikraft links at 0x100000)`);
}
