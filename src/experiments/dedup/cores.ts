/**
 * FaaS invocations executed on the host's cores (src/hw): each unikernel VM gets one vCPU pinned to
 * core `vm index mod cores` of the configured host, and an invocation's accesses run through that
 * vCPU, so they go through the core's TLBs, the two-dimensional walk (guest table through the EPT),
 * the paging-structure caches, the nested TLB and the data caches, time-sliced with the other vCPUs
 * of the core (src/sim/scheduler.ts `runOnCores`). When the host changes a present EPT leaf (a KSM
 * merge, a copy-on-write break) it calls `flushVm()` on the VM's vCPU (src/host/vm.ts, the
 * TlbInvalidator seam), which drops that VM's VPID- and EPTP-tagged entries on its core: a flush
 * costs the VM the TLB misses that follow.
 *
 * Guest translation: the guest runs on the identity map the VMM builds before entry, 2 MiB pages in
 * a PML4, PDPT and PD at guest-physical 0x9000, 0xa000 and 0xb000 (native/vmm/vmm.c, after
 * Firecracker's x86 boot setup; research/dedup.md §6). Those three pages are written by the VMM at
 * load, so they are host memory of every VM (identical bytes in every VM: KSM merges them) and the
 * walker reads them through the VM's EPT. One PageTable object serves every VM: each VM's copy has
 * the same entries at the same guest-physical addresses of its own memory, and is only read.
 *
 * Accesses are page-granular: an invocation touches each page of its set once, with one 8-byte
 * access. TLB misses, walks and EPT faults are per page, so one access per touched page gives their
 * count exactly for a sequential pass over each page (the other lines of a page hit its L1 DTLB
 * entry, the most recent one); a per-line model would cost 64 times the simulation time for the
 * same translation figures. The data side is one line per page, so the invocation time measures
 * the memory path of its page touches (translation, faults, one line each), not its compute. The
 * line touched in page p is line p mod 64, so successive pages spread over the cache sets.
 *
 * What an invocation touches: its working set on the heap, written with fresh content (as the
 * memory model without cores writes it). Instruction fetch is not modelled (the machine model has
 * no L1 ITLB); a host flush drops all of the VM's entries at once, so the working set's pages show
 * what it costs.
 */
import { z } from 'zod';
import { InvariantError } from '../../base/assert.ts';
import { contentFingerprint } from '../../base/hash.ts';
import { PageSize } from '../../base/units.ts';
import { CPU_PRESETS } from '../../hw/cpu.ts';
import type { VcpuCounters } from '../../hw/counters.ts';
import { RangeFrameSource } from '../../hw/frames.ts';
import { PageTable } from '../../hw/pagetable.ts';
import { MAX_TAGS } from '../../hw/tlb.ts';
import { VCpu, type Machine } from '../../hw/vcpu.ts';
import type { HostVm } from '../../host/index.ts';
import { DEFAULT_QUANTUM_MS, quantumCycles, runOnCores, type CoreTask } from '../../sim/scheduler.ts';
import type { ConfigProblem } from '../types.ts';

/** The host's cores and how the FaaS VMs run on them. */
export interface CoresModel {
  /** CPU preset (src/hw/cpu.ts). */
  cpu: string;
  /** Physical cores; VM i runs on core i mod cores. */
  cores: number;
  /** Time slice of a vCPU on its core, ms. */
  quantumMs: number;
  /** VPID-tagged translations (false: a core flushes its VPID-tagged entries on every vCPU switch). */
  vpid: boolean;
}

/** Most VMs one machine can tag (src/hw/tlb.ts MAX_TAGS: tags are 1-based). */
export const MAX_VCPUS = MAX_TAGS - 1;

/** Configuration fields of the host's cores, shared by the experiments that run the FaaS model. */
export const coresModelFields = {
  executeOnCores: z
    .enum(['auto', 'on', 'off'])
    .describe(`run each invocation through its VM's vCPU on the host's cores (TLBs, nested walks, caches): on, off (the memory model alone: no time figures), or auto (on up to ${MAX_VCPUS} instances, the vCPUs the machine model can tag)`)
    .meta({ source: 'choice: on wherever the machine model can run it; it costs about 2-3x the memory model\'s time per configuration (docs/dedup-experiments.md, "What the cores add")' }),
  cpu: z.enum(Object.keys(CPU_PRESETS) as [string, ...string[]]).describe('CPU preset of the host: TLB geometry, PSC/NTLB, caches, clock').meta({ source: 'src/hw/cpu.ts cites each preset; icelake (Xeon Platinum 8380, 2021) is the server generation of the presets closest to SoCC\'22, whose host CPU is not published, and the ucat experiment\'s host' }),
  cores: z.number().int().min(1).max(512).describe('physical cores of the host; VM i\'s single vCPU is pinned to core i mod cores').meta({ unit: 'cores', source: 'Firecracker design doc: 5 microVMs per host core per second, 180/s on 36 cores (dedup.md §6), the host behind the default launch rate; at most 512: two-socket hosts have up to 384 cores (2 x AMD EPYC 9965), and every core\'s caches are simulated' }),
  quantumMs: z.number().min(0.01).max(1000).describe('time slice of a vCPU on its core').meta({ unit: 'ms', source: 'Linux CFS minimum granularity on 8+ CPUs (0.75 ms x 4 = 3 ms), src/sim/scheduler.ts' }),
  vpid: z.boolean().describe('translations tagged by VPID (false: a core flushes its VPID-tagged entries on every vCPU switch)').meta({ source: 'Linux kvm_intel module parameter enable_vpid, default on' }),
};

export type CoresConfig = { [K in keyof typeof coresModelFields]: z.infer<(typeof coresModelFields)[K]> };

export function coresDefaults(): CoresConfig {
  return { executeOnCores: 'auto', cpu: 'icelake', cores: 36, quantumMs: DEFAULT_QUANTUM_MS, vpid: true };
}

/** Whether `instances` VMs run on cores under this configuration. */
export function runsOnCores(c: CoresConfig, instances: number): boolean {
  return c.executeOnCores === 'on' || (c.executeOnCores === 'auto' && instances <= MAX_VCPUS);
}

/** The cores part of the FaaS model, or null when invocations do not run on cores. */
export function coresModelOf(c: CoresConfig, instances: number): CoresModel | null {
  return runsOnCores(c, instances) ? { cpu: c.cpu, cores: c.cores, quantumMs: c.quantumMs, vpid: c.vpid } : null;
}

/** Cross-field limit: the machine model tags at most MAX_VCPUS vCPUs. */
export function coresProblem(c: CoresConfig & { instances: number }): ConfigProblem | undefined {
  if (c.executeOnCores === 'on' && c.instances > MAX_VCPUS) {
    return { field: 'executeOnCores', problem: `on runs one vCPU per instance and the machine model tags at most ${MAX_VCPUS} (instances ${c.instances}); use auto or off` };
  }
  return undefined;
}

/** Guest-physical address of the VMM's boot page tables (PML4, PDPT, PD; native/vmm/vmm.c). */
export const BOOT_TABLE_GPA = 0x9000;
export const BOOT_TABLE_PAGES = 3;
const BOOT_TABLE_FRAME = BOOT_TABLE_GPA / 4096;

/** Content of boot table page k: the same bytes in every VM (first argument 0 is no VM's: VM contents use id + 1). */
export function bootTableFingerprint(k: number): number {
  return contentFingerprint(0, k, 0x9000);
}

/** Pages an invocation runs per scheduler unit: the quantum is checked between units. */
const PAGES_PER_UNIT = 64;

/** Figures of the invocations run on the cores, totals over all vCPUs. */
export interface CoreFigures {
  cpu: string;
  cores: number;
  clockGHz: number;
  invocations: number;
  pagesTouched: number;
  /** L2 TLB misses (page walks) and L1 DTLB misses. */
  tlbMisses: number;
  l1TlbMisses: number;
  walkRefs: number;
  walkCycles: number;
  eptViolations: number;
  /** Cycles of the EPT violations (part of invocationCycles). */
  faultCycles: number;
  /** Cycles the invocations took on their cores: translation (walks, EPT faults), data, vCPU switches. */
  invocationCycles: number;
  /** Host flushes of the VMs' translations (INVEPT single-context), and those when the VM had run since its previous flush (its entries could be cached). */
  vcpuFlushes: number;
  flushesAfterRunning: number;
  /** vCPU switches on the cores. */
  switches: number;
  /** Sum over cores of their busy cycles. */
  busyCycles: number;
}

/** One invocation's page touches, run in units by the scheduler. */
class InvocationRun implements CoreTask {
  private next = 0;
  private cycles = 0;

  constructor(
    private readonly cores: FaasCores,
    /** The VM's vCPU index (FaasCores.attach order). */
    private readonly index: number,
    readonly vcpu: VCpu,
    private readonly vm: HostVm,
    private readonly heapBase: number,
    private readonly heapPages: number,
    /** Content version of the pages written (the invocation's number). */
    private readonly version: number,
    /** The CPL0 stack pages the invocation's closing system call writes, after its heap pages (src/experiments/dedup/invocation-stack.ts). */
    private readonly stackPages: Float64Array,
  ) {}

  get done(): boolean {
    return this.next === this.heapPages + this.stackPages.length;
  }

  spent(): number {
    return this.cycles;
  }

  step(): void {
    const vcpu = this.vcpu;
    const vm = this.vm;
    const heapPages = this.heapPages;
    const end = Math.min(this.next + PAGES_PER_UNIT, heapPages + this.stackPages.length);
    let cycles = 0;
    for (let page = this.next; page < end; page++) {
      if (page >= heapPages) {
        // The stack frame's bytes are the ones the page held (docs/ksm.md): the store alone, which
        // breaks a KSM page's copy-on-write (the copy keeps the content) or backs a zero page.
        const gpa = this.stackPages[page - heapPages];
        cycles += vcpu.store(gpa + lineOffset(gpa), 8);
        continue;
      }
      const gpa = this.heapBase + page * 4096;
      cycles += vcpu.store(gpa + lineOffset(gpa), 8);
      // The store made the page writable in the EPT (a fault if it was not): the new content.
      vm.setContent(gpa, contentFingerprint(vm.id + 1, page, this.version));
    }
    this.next = end;
    this.cycles += cycles;
    // After the unit (a copy-on-write flush inside it may have cleared the mark): entries may be cached.
    this.cores.noteRan(this.index);
  }
}

/** Offset of the line touched in the page at `gpa` (line p mod 64 of page p). */
function lineOffset(gpa: number): number {
  return ((gpa / 4096) & 63) * 64;
}

/** The guest's identity map of `bytes` of RAM with 2 MiB pages, its tables in guest frames 9, 10, 11. */
export function bootPageTable(bytes: number): PageTable {
  const pt = new PageTable(new RangeFrameSource(BOOT_TABLE_FRAME, BOOT_TABLE_PAGES));
  for (let gpa = 0; gpa < bytes; gpa += 2 * 1024 * 1024) pt.map(gpa, gpa / 4096, PageSize.Size2M, true);
  return pt;
}

/** The vCPUs of the FaaS VMs on the machine's cores, and the invocations queued for the current step. */
export class FaasCores {
  private readonly guest: PageTable;
  private readonly vcpus: VCpu[] = [];
  private readonly queued: InvocationRun[] = [];
  private readonly quantum: number;
  private invocations = 0;
  private pagesTouched = 0;
  private busyCycles = 0;
  private switches = 0;
  /**
   * Per vCPU: whether the VM may have entries cached on its core, i.e. it ran since the last flush
   * of its entries. Only its own vCPU's walks fill entries with its tags, so a flush of a VM that
   * has not run since the previous one finds nothing: it is counted and skips the scan of the
   * core's structures (a single-context flush scans every way of every structure), which is what
   * keeps hundreds of thousands of ksmd flushes affordable.
   */
  private readonly mayHoldEntries = new Uint8Array(MAX_VCPUS);
  private hostFlushes = 0;
  private flushesFindingEntries = 0;

  constructor(
    readonly machine: Machine,
    vmBytes: number,
    quantumMs: number,
  ) {
    this.guest = bootPageTable(vmBytes);
    this.quantum = quantumCycles(machine, quantumMs);
  }

  /** Give `vm` its vCPU (pinned to core vCPU index mod cores) and make the cores the VM's TLB invalidator; returns the vCPU's index. */
  attach(vm: HostVm): number {
    const index = this.vcpus.length;
    if (index >= MAX_VCPUS) throw new InvariantError(`FaaS cores: more than ${MAX_VCPUS} vCPUs (the configuration check limits instances)`);
    const faults = {
      guestPageFault(gva: number): number {
        throw new InvariantError(`FaaS VM ${vm.id}: guest page fault at 0x${gva.toString(16)} (the identity map covers guest RAM)`);
      },
      eptViolation: (gpa: number, write: boolean): number => vm.eptViolation(gpa, write),
    };
    const vcpu = new VCpu(this.machine, { guest: this.guest, ept: vm.ept, faults }, vm.id, index % this.machine.coreCount);
    vm.setInvalidator({
      invalidatePage: (gva: number) => vcpu.invalidatePage(gva),
      flushVm: () => this.flushVm(index),
      flushAll: () => vcpu.flushAll(),
    });
    this.vcpus.push(vcpu);
    return index;
  }

  /** The host flushed VM `index`'s translations (INVEPT single-context). */
  private flushVm(index: number): void {
    this.hostFlushes++;
    if (this.mayHoldEntries[index] === 0) return;
    this.mayHoldEntries[index] = 0;
    this.flushesFindingEntries++;
    this.vcpus[index].flushVm();
  }

  /** vCPU `index` ran: its entries may be cached. */
  noteRan(index: number): void {
    this.mayHoldEntries[index] = 1;
  }

  /** Queue one invocation of VM `vm` (vCPU `index`): write `heapPages` pages from `heapBase` with content `version`, then store to `stackPages`. */
  queue(index: number, vm: HostVm, heapBase: number, heapPages: number, version: number, stackPages: Float64Array): void {
    this.queued.push(new InvocationRun(this, index, this.vcpus[index], vm, heapBase, heapPages, version, stackPages));
    this.invocations++;
    this.pagesTouched += heapPages + stackPages.length;
  }

  /** Run the queued invocations on their cores, from an idle start (one simulation step). */
  runQueued(): void {
    if (this.queued.length === 0) return;
    const r = runOnCores(this.machine, this.queued, this.quantum);
    for (let c = 0; c < r.coreCycles.length; c++) this.busyCycles += r.coreCycles[c];
    this.switches += r.switches;
    this.queued.length = 0;
  }

  /** Each vCPU's counters, in attach order (for tests and per-VM figures). */
  perVcpu(): VcpuCounters[] {
    return this.vcpus.map((v) => v.counters);
  }

  figures(): CoreFigures {
    const f: CoreFigures = {
      cpu: this.machine.cpu.name,
      cores: this.machine.coreCount,
      clockGHz: this.machine.cpu.clockGHz,
      invocations: this.invocations,
      pagesTouched: this.pagesTouched,
      tlbMisses: 0,
      l1TlbMisses: 0,
      walkRefs: 0,
      walkCycles: 0,
      eptViolations: 0,
      faultCycles: 0,
      invocationCycles: 0,
      vcpuFlushes: this.hostFlushes,
      flushesAfterRunning: this.flushesFindingEntries,
      switches: this.switches,
      busyCycles: this.busyCycles,
    };
    for (const v of this.vcpus) {
      const c = v.counters;
      f.tlbMisses += c.walks;
      f.l1TlbMisses += c.l1TlbMisses;
      f.walkRefs += c.walkRefs;
      f.walkCycles += c.walkCycles;
      f.eptViolations += c.eptViolations;
      f.faultCycles += c.faultCycles;
      f.invocationCycles += c.translationCycles + c.dataCycles + c.switchCycles;
    }
    return f;
  }
}
