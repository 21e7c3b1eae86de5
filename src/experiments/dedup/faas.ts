/**
 * The FaaS unikernel model shared by `dedup-faas` and `tlb-flushes`: many unikernel VMs started
 * back to back on one host, each booting its image, initialising a heap and then serving
 * invocations, while KSM (or nothing) runs, sampled every simulated second.
 *
 * A unikernel is modelled directly on a HostVm (one guest-physical region, identity-mapped as
 * Unikraft runs on Firecracker: the image at its link address 0x100000, heap after it). There is no
 * guest kernel or vCPU model: the experiments measure host memory and the host's TLB flushes, and
 * every guest store reaches the host as an EPT violation (first touch or write to a read-only
 * leaf) followed by a content change, exactly what the full model would do for these pages.
 *
 * Per VM:
 * - load: the standard loader copies the image's file-backed pages, or the pool loader maps the
 *   pool's frames and copies the private sections (src/host/loader.ts);
 * - boot: bss pages zero-filled on first touch; the heap's first `heapInitKiB` written with
 *   per-instance content (allocator metadata, initialised data) and a `stackKiB` stack;
 * - invocations: Poisson arrivals (src/workload/faas.ts) at `invocationsPerSecond` per instance; an
 *   invocation writes its function's working set (one per application, jittered) with fresh content.
 * - host memory: allocated host frames (shared frames once, pool frames, EPT tables) plus the VMM's
 *   per-VM overhead.
 */
import { contentFingerprint as importedContentFingerprint } from '../../base/hash.ts';
import type { Rng } from '../../base/rng.ts';
import { alignUp, GiB, MiB, PAGE_4K as IMPORTED_PAGE_4K } from '../../base/units.ts';
import { Translation } from '../../hw/pagetable.ts';
import { HostBackend, Ksm, loadCopy, loadFromPool, type HostVm, type KsmCounters, type KsmParams, type PoolImage } from '../../host/index.ts';
import { createFaasArrivals, FaasArrivals, Invocation } from '../../workload/faas.ts';
import { preparePool, type ImageSet, type PreparedImage } from './images.ts';
import type { ImageVariant } from '../../image/index.ts';

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
   * which this model does not know (a real guest touches a few).
   */
  bssAtBoot?: 'all' | 'none';
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
}

interface Instance {
  vm: HostVm;
  arrivals: FaasArrivals;
  next: Invocation;
  heapBase: number;
  invocations: number;
}

/** Run one configuration of the FaaS model. */
export function runSharingConfig(set: ImageSet, config: SharingConfig, model: FaasModel, rng: Rng): ConfigRun {
  const backend = new HostBackend({ tiers: [{ tier: 'ddr4', bytes: GiB(Math.max(16, Math.ceil((model.instances * model.vmMemoryMiB) / 1024) + 8)) }], variant: 'baseline', policy: { hugeBacking: 'never' }, clockGHz: CLOCK_GHZ });
  const mem = backend.memory;
  const images = set.byVariant.get(config.variant)!;
  let poolImages: PoolImage[] = [];
  let poolPages = 0;
  if (config.loader === 'pool') {
    const p = preparePool(set, config.variant, mem);
    poolImages = p.images;
    poolPages = p.sharedPages;
  }
  const ksm = config.ksm ? new Ksm(mem, model.ksm) : null;
  const appNames = [...new Set(images.map((i) => i.name))];
  const instances: Instance[] = [];
  // Each instance's next invocation time, which every step reads for every instance: a flat array
  // rather than a walk over the instance objects (10,000 instances x 6,000 steps).
  const nextAt = new Float64Array(model.instances);
  const tr = new Translation();
  const overhead = MiB(model.vmmOverheadMiB);
  const memoryMiB: number[] = [];
  const ksmPagesSharing: number[] = [];
  let loadCopied = 0;
  let loadMapped = 0;
  let loadCycles = 0;
  let invocations = 0;
  const stepNs = model.stepMs * 1e6;
  const endNs = model.durationSec * 1e9;
  const launchGapNs = 1e9 / model.launchPerSecond;
  const hostBytes = (): number => mem.allocatedFrames * PAGE_4K + instances.length * overhead;

  const write = (vm: HostVm, gpa: number, fp: number): void => {
    if (!vm.ept.lookup(gpa, tr) || !tr.writable) vm.eptViolation(gpa, true);
    vm.setContent(gpa, fp);
  };

  const start = (i: number): void => {
    // Instance i runs application i mod apps; ASLR images cycle through the randomised instances.
    const img: PreparedImage = images[i % images.length];
    const vm = backend.createVmWithRegions([{ gpaStart: 0, bytes: MiB(model.vmMemoryMiB), tier: -1, hugeBacking: false }]);
    const r = config.loader === 'pool' ? loadFromPool(vm, poolImages[i % images.length], backend.costs) : loadCopy(vm, img.copyPages, backend.costs);
    loadCopied += r.pagesCopied;
    loadMapped += r.pagesMapped;
    loadCycles += r.cycles;
    // Boot: bss zero-filled on first touch, heap initialised, a stack.
    if (model.bssAtBoot !== 'none') for (let k = 0; k < img.zeroPages.length; k++) if (!vm.ept.lookup(img.zeroPages[k], tr)) vm.eptViolation(img.zeroPages[k], true);
    const heapBase = alignUp(img.imageEnd, PAGE_4K);
    const initPages = Math.ceil((model.heapInitKiB + model.stackKiB) / 4);
    for (let k = 0; k < initPages; k++) write(vm, heapBase + k * PAGE_4K, contentFingerprint(vm.id + 1, k, 1));
    const appIdx = appNames.indexOf(img.name);
    const ws = model.workingSetsKiB[appIdx % model.workingSetsKiB.length] * 1024;
    const arrivals = createFaasArrivals(rng.fork(`faas/${i}`), { ratePerSecond: model.invocationsPerSecond, jitter: model.jitter, functions: [{ name: img.name, weight: 1, workingSetBytes: ws }] });
    const next = new Invocation();
    arrivals.next(next);
    next.timeNs += i * launchGapNs;
    nextAt[instances.length] = next.timeNs;
    instances.push({ vm, arrivals, next, heapBase: heapBase + initPages * PAGE_4K, invocations: 0 });
    ksm?.register(vm);
  };

  const invoke = (inst: Instance): void => {
    const pages = Math.ceil(inst.next.workingSetBytes / PAGE_4K);
    const limit = Math.min(pages, (MiB(model.vmMemoryMiB) - inst.heapBase) / PAGE_4K);
    inst.invocations++;
    invocations++;
    for (let k = 0; k < limit; k++) write(inst.vm, inst.heapBase + k * PAGE_4K, contentFingerprint(inst.vm.id + 1, k, inst.invocations + 1));
  };

  let started = 0;
  for (let t = 0; t <= endNs; t += stepNs) {
    while (started < model.instances && started * launchGapNs <= t) start(started++);
    for (let k = 0; k < instances.length; k++) {
      if (nextAt[k] > t) continue;
      const inst = instances[k];
      while (inst.next.timeNs <= t) {
        invoke(inst);
        const launch = k * launchGapNs;
        inst.arrivals.next(inst.next);
        inst.next.timeNs += launch;
      }
      nextAt[k] = inst.next.timeNs;
    }
    if (ksm) ksm.advance(t);
    if (t % 1e9 === 0) memoryMiB.push(Math.round((hostBytes() / MiB(1)) * 100) / 100);
    if (ksm && t % 1e9 === 0) ksmPagesSharing.push(ksm.counters().pagesSharing);
  }
  const endBytes = hostBytes();
  let flushesAll = 0;
  let cow = 0;
  for (const inst of instances) {
    flushesAll += inst.vm.counters.tlbFlushes;
    cow += inst.vm.counters.cowBreaks;
  }
  const ksmEnd = ksm ? ksm.counters() : null;
  const flushesKsm = ksmEnd ? ksmEnd.tlbFlushes : 0;
  let converged: ConfigRun['converged'] = null;
  if (ksm) {
    const target = ksm.fullScans + 2;
    let t = endNs;
    while (ksm.fullScans < target) {
      t += 1e9;
      ksm.advance(t);
      ksmPagesSharing.push(ksm.counters().pagesSharing);
    }
    converged = { endBytes: hostBytes(), ksm: ksm.counters() };
  }
  const n = Math.max(1, instances.length);
  const cyclesPerUs = CLOCK_GHZ * 1000;
  return {
    config,
    memoryMiB,
    endBytes,
    ksmPagesSharing,
    ksm: ksmEnd,
    converged,
    flushesKsm,
    flushesVm: flushesAll - flushesKsm,
    cowBreaks: cow,
    loadPagesCopied: loadCopied / n,
    loadPagesMapped: loadMapped / n,
    loadMicros: Math.round((loadCycles / n / cyclesPerUs) * 10) / 10,
    poolPages,
    invocations,
    started,
  };
}
