/**
 * The `ucat` experiment: UCat's evaluation (Tian et al., FCS 2023; research/ucat.md §1) on a
 * scaled-down server. A fleet of OSv-like unikernel VMs, half memcached under memslap and half a
 * document store under YCSB, runs on DRAM + NVM under stock OSv, OSv with large pages, OSv with
 * slabs and UCat (plus ablations), and we report host memory, guest internal fragmentation, TLB
 * misses, walk cycles and throughput, and UCat against stock OSv next to the paper's abstract.
 *
 * Nothing here is tuned towards the paper's figures: every parameter is a tool default, the
 * issue's example scaled down, or a stated choice (docs/ucat-experiment.md).
 */
import { z } from 'zod';
import { UserError } from '../base/errors.ts';
import { mean, ratio, reduction, round, speedup } from '../base/stats.ts';
import { PageSize } from '../base/units.ts';
import { CPU_PRESETS, cpuPreset } from '../hw/cpu.ts';
import { TIER_PRESETS } from '../hw/tiers.ts';
import { YCSB_CORE_WORKLOADS } from '../workload/ycsb.ts';
import { UCAT_CONFIGURATION_NAMES, ucatConfiguration } from './ucat/configs.ts';
import { fleetOps, runFleet, type FleetResult, type VmResult, type WorkloadName } from './ucat/fleet.ts';
import type { Experiment, ExperimentResult, PaperComparison, ResultSeries } from './types.ts';

const tierNames = Object.keys(TIER_PRESETS) as [string, ...string[]];

export const ucatSchema = z
  .object({
    cpu: z.enum(Object.keys(CPU_PRESETS) as [string, ...string[]]).describe('CPU preset: TLB geometry, PSC/NTLB, caches, clock').meta({ source: 'src/hw/cpu.ts; icelake is the Intel generation closest to the Optane DCPMM servers UCat used (research/ucat.md §1.3)' }),
    dramTier: z.enum(tierNames).describe('host DRAM tier preset').meta({ source: 'src/hw/tiers.ts (DDR4, Yang et al. FAST 2020)' }),
    nvmTier: z.enum(tierNames).describe('host NVM tier preset').meta({ source: 'src/hw/tiers.ts (Optane DCPMM, Yang et al. FAST 2020); UCat cites ndctl/ipmctl, i.e. real Optane' }),
    hostDramMiB: z.number().int().min(16).max(1 << 20).describe('host DRAM').meta({ unit: 'MiB', source: 'issue example 32 GiB scaled down 16x, with VMs 8x smaller, so the fleet\'s footprint still exceeds DRAM about twofold (docs/ucat-experiment.md)' }),
    hostNvmMiB: z.number().int().min(16).max(1 << 22).describe('host NVM').meta({ unit: 'MiB', source: 'issue example 256 GiB (8x DRAM), scaled like DRAM' }),
    vms: z.number().int().min(2).max(4096).describe('VMs; even ones run memcached/memslap, odd ones the document store/YCSB').meta({ unit: 'VMs', source: 'issue example: 64 VMs; half memslap, half YCSB' }),
    vmDramMiB: z.number().int().min(2).max(1 << 20).describe('guest memory per VM on the DRAM tier (typed region under the tier-aware host; part of one untyped region otherwise)').meta({ unit: 'MiB', source: 'choice: host DRAM / VMs, so the fleet asks for exactly the host DRAM' }),
    vmNvmMiB: z.number().int().min(0).max(1 << 22).describe('guest memory per VM on the NVM tier').meta({ unit: 'MiB', source: 'choice: the rest of the VM (issue: 1 GiB VMs, scaled down to 128 MiB)' }),
    cores: z.number().int().min(1).max(4096).describe('host cores; VM i\'s vCPU is pinned to core i mod cores and time-shares it in 3 ms slices (src/sim/scheduler.ts)').meta({ unit: 'cores', source: 'choice: two vCPUs per core, e.g. 64 VMs on a 32-core server' }),
    memslapInitialLoad: z.number().int().min(1).max(10_000_000).describe('memslap --initial-load: pairs set in the load phase, then as many gets (test get)').meta({ unit: 'pairs', source: 'memslap DEFAULT_INITIAL_LOAD 10000 (libmemcached); quick run smaller' }),
    memslapValueBytes: z.number().int().min(1).max(1 << 20).describe('memslap value size').meta({ unit: 'bytes', source: 'memslap VALUE_BYTES 4096 (libmemcached)' }),
    memcachedMemLimitMiB: z.number().int().min(1).max(1 << 20).describe('memcached -m: item memory before eviction').meta({ unit: 'MiB', source: 'choice: three quarters of the VM, so no configuration evicts (memcached default 64 MB would evict under power-of-two pools)' }),
    ycsbWorkload: z.enum(Object.keys(YCSB_CORE_WORKLOADS) as [string, ...string[]]).describe('YCSB core workload letter').meta({ source: 'YCSB workloads/workloada (50% read, 50% update, zipfian 0.99)' }),
    ycsbRecordCount: z.number().int().min(1).max(100_000_000).describe('YCSB recordcount (1 KB records, loaded in the load phase)').meta({ unit: 'records', source: 'choice: enough 1 KB records that the fleet outgrows host DRAM' }),
    ycsbOperationCount: z.number().int().min(1).max(100_000_000).describe('YCSB operationcount of the run phase').meta({ unit: 'operations', source: 'choice: as many as records' }),
    configurations: z.array(z.enum(UCAT_CONFIGURATION_NAMES)).min(2).describe('configurations to compare; must include osv and ucat').meta({ source: 'issue: stock OSv, OSv with large pages, OSv with slabs, UCat (src/experiments/ucat/configs.ts)' }),
  })
  .strict();

export type UcatConfig = z.infer<typeof ucatSchema>;

const MiB = 1024 * 1024;
const FRAME_MIB = 4096 / MiB;

/** Aggregated figures of one workload (or all VMs) of one configuration. */
interface Agg {
  vms: number;
  ops: number;
  accesses: number;
  l1TlbMisses: number;
  walks: number;
  walkCycles: number;
  translationCycles: number;
  computeCycles: number;
  memoryCycles: number;
  dataCycles: number;
  /** Data lines served by memory, [DRAM, NVM]. */
  dataLinesMem: [number, number];
  requestedBytes: number;
  reservedBytes: number;
  /** Largest number of guest 2 MiB leaves of one VM. */
  maxLeaves2M: number;
  opsPerVm: number;
  hostOps: number;
}

/** Aggregate VMs; each VM's rate is its run-phase operations over its run phase's span on its core. */
function aggregate(vms: VmResult[], clockHz: number): Agg {
  const a: Agg = {
    vms: vms.length,
    ops: 0,
    accesses: 0,
    l1TlbMisses: 0,
    walks: 0,
    walkCycles: 0,
    translationCycles: 0,
    computeCycles: 0,
    memoryCycles: 0,
    dataCycles: 0,
    dataLinesMem: [0, 0],
    requestedBytes: 0,
    reservedBytes: 0,
    maxLeaves2M: 0,
    opsPerVm: 0,
    hostOps: 0,
  };
  const rates: number[] = [];
  for (const v of vms) {
    a.ops += v.ops;
    a.accesses += v.accesses;
    a.l1TlbMisses += v.l1TlbMisses;
    a.walks += v.walks;
    a.walkCycles += v.walkCycles;
    a.translationCycles += v.translationCycles;
    a.computeCycles += v.computeCycles;
    a.memoryCycles += v.memoryCycles;
    a.dataCycles += v.dataCycles;
    a.dataLinesMem[0] += v.dataLinesMem[0];
    a.dataLinesMem[1] += v.dataLinesMem[1];
    a.requestedBytes += v.requestedBytes;
    a.reservedBytes += v.reservedBytes;
    a.maxLeaves2M = Math.max(a.maxLeaves2M, v.leaves2M);
    rates.push(v.runWallCycles > 0 ? (v.ops * clockHz) / v.runWallCycles : 0);
  }
  a.opsPerVm = mean(rates);
  a.hostOps = rates.reduce((t, r) => t + r, 0);
  return a;
}

/** Run-phase figures of one workload in one configuration (the "workloads" table). */
interface WorkloadFigures {
  fragmentation: number;
  tlbMissRatio: number;
  tlbMpka: number;
  /** L1 DTLB misses (L2 TLB hits and walks) per thousand accesses. */
  l1TlbMpka: number;
  walkCyclesPerAccess: number;
  /** Cycles of one operation (compute + memory), and where they go: modelled compute, translation (L2 TLB lookups and walks), data lines. */
  cyclesPerOp: number;
  computeCyclesPerOp: number;
  translationCyclesPerOp: number;
  dataCyclesPerOp: number;
  /** Share of the data lines served by memory that came from NVM. */
  nvmLineShare: number;
}

export interface UcatRow {
  configuration: string;
  dramMiB: number;
  nvmMiB: number;
  totalMiB: number;
  eptTableMiB: number;
  fragmentation: number;
  tlbMissRatio: number;
  tlbMpka: number;
  l1TlbMpka: number;
  walkCyclesPerAccess: number;
  translationCyclesPerAccess: number;
  memslapOpsPerVm: number;
  memslapHostOps: number;
  ycsbOpsPerVm: number;
  ycsbHostOps: number;
  /** Largest number of 2 MiB guest leaves (translations) one VM of this configuration mapped. */
  maxLeaves2M: number;
  perWorkload: Record<WorkloadName, WorkloadFigures>;
}

function toRow(f: FleetResult, clockHz: number): UcatRow {
  const all = aggregate(f.vms, clockHz);
  const ms = aggregate(f.vms.filter((v) => v.workload === 'memslap'), clockHz);
  const yc = aggregate(f.vms.filter((v) => v.workload === 'ycsb'), clockHz);
  const frag = (a: Agg) => round(ratio(a.reservedBytes - a.requestedBytes, a.requestedBytes), 4);
  const per = (a: Agg): WorkloadFigures => ({
    fragmentation: frag(a),
    tlbMissRatio: round(ratio(a.walks, a.accesses), 6),
    tlbMpka: round(ratio(a.walks * 1000, a.accesses), 3),
    l1TlbMpka: round(ratio(a.l1TlbMisses * 1000, a.accesses), 3),
    walkCyclesPerAccess: round(ratio(a.walkCycles, a.accesses), 3),
    cyclesPerOp: round(ratio(a.computeCycles + a.memoryCycles, a.ops), 1),
    computeCyclesPerOp: round(ratio(a.computeCycles, a.ops), 1),
    translationCyclesPerOp: round(ratio(a.translationCycles, a.ops), 1),
    dataCyclesPerOp: round(ratio(a.dataCycles, a.ops), 1),
    nvmLineShare: round(ratio(a.dataLinesMem[1], a.dataLinesMem[0] + a.dataLinesMem[1]), 4),
  });
  return {
    configuration: f.configuration,
    dramMiB: round(f.residentFrames[0] * FRAME_MIB, 2),
    nvmMiB: round(f.residentFrames[1] * FRAME_MIB, 2),
    totalMiB: round((f.residentFrames[0] + f.residentFrames[1]) * FRAME_MIB, 2),
    eptTableMiB: round(f.eptTableFrames * FRAME_MIB, 3),
    fragmentation: frag(all),
    tlbMissRatio: round(ratio(all.walks, all.accesses), 6),
    tlbMpka: round(ratio(all.walks * 1000, all.accesses), 3),
    l1TlbMpka: round(ratio(all.l1TlbMisses * 1000, all.accesses), 3),
    walkCyclesPerAccess: round(ratio(all.walkCycles, all.accesses), 3),
    translationCyclesPerAccess: round(ratio(all.translationCycles, all.accesses), 3),
    memslapOpsPerVm: round(ms.opsPerVm, 1),
    memslapHostOps: round(ms.hostOps, 1),
    ycsbOpsPerVm: round(yc.opsPerVm, 1),
    ycsbHostOps: round(yc.hostOps, 1),
    maxLeaves2M: all.maxLeaves2M,
    perWorkload: { memslap: per(ms), ycsb: per(yc) },
  };
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
/** A share as a plain percentage (no sign). */
const pc = (x: number) => `${(x * 100).toFixed(1)}%`;
/** Share of an operation's cycles that one part takes. */
const share = (w: WorkloadFigures, part: 'computeCyclesPerOp' | 'translationCyclesPerOp' | 'dataCyclesPerOp') => round(ratio(w[part], w.cyclesPerOp), 4);

export const ucatExperiment: Experiment<typeof ucatSchema> = {
  name: 'ucat',
  title: 'UCat: heterogeneous memory, large pages and slabs for OSv unikernels',
  description:
    'Reproduces the evaluation of UCat (Tian, Liu, Liao, Jin; Front. Comput. Sci. 2023) on a scaled-down DRAM + NVM server: ' +
    'a fleet of single-vCPU OSv-like VMs, half memcached under memslap (get test) and half a document store under YCSB, whose ' +
    'memory together exceeds host DRAM, interleaved in simulated time. It compares stock OSv (tier-unaware host, 4 KiB pages, ' +
    'power-of-two pools), OSv with large pages, OSv with slabs and UCat (tier-aware 2 MiB-aligned back-end, 2 MiB pages, slabs, ' +
    'tier placement), and reports host memory (DRAM, NVM), guest internal fragmentation, L2 TLB misses, walk cycles and ' +
    'throughput, with UCat against stock OSv next to the paper\'s abstract (-50% memory, -41% TLB miss rate, +18.5% memslap, ' +
    '+14.8% YCSB). See docs/ucat-experiment.md for the scaling and why our figures differ.',
  howToRead:
    'The "configurations" table has one row per configuration: host memory at the end (DRAM, NVM, total, EPT tables), guest ' +
    'internal fragmentation (reserved over requested, minus one), TLB misses of the run phase (L2 misses, i.e. page walks, as a ' +
    'ratio and per thousand accesses; L1 DTLB misses per thousand accesses), walk cycles per access, and run-phase throughput per ' +
    'VM and for the host. The "workloads" table splits the same by workload and adds where an operation\'s cycles go (modelled ' +
    'compute, translation, data lines) and the share of memory-served data lines that came from NVM. The comparisons put UCat ' +
    'against stock OSv next to the paper. Memory reduction comes from slabs (memslap\'s 4098-byte values take two pages under ' +
    'OSv\'s size paths); the L2 TLB misses vanish with 2 MiB pages in both dimensions; throughput moves with translation cycles ' +
    'and with how much of each workload\'s data sits in NVM (docs/ucat-experiment.md).',
  schema: ucatSchema,
  defaults(quick: boolean): UcatConfig {
    return {
      cpu: 'icelake',
      dramTier: 'ddr4',
      nvmTier: 'optane',
      hostDramMiB: quick ? 256 : 2048,
      hostNvmMiB: quick ? 2048 : 16384,
      vms: quick ? 8 : 64,
      vmDramMiB: 32,
      vmNvmMiB: 96,
      cores: quick ? 4 : 32,
      memslapInitialLoad: quick ? 8000 : 10000,
      memslapValueBytes: 4096,
      memcachedMemLimitMiB: 96,
      ycsbWorkload: 'A',
      ycsbRecordCount: quick ? 30000 : 40000,
      ycsbOperationCount: quick ? 30000 : 40000,
      configurations: quick ? ['osv', 'osv-large', 'osv-slab', 'ucat'] : ['osv', 'osv-large', 'osv-slab', 'ucat', 'ucat-no-tiers', 'ucat-4k'],
    };
  },
  run(config, ctx): ExperimentResult {
    if (!config.configurations.includes('osv') || !config.configurations.includes('ucat')) {
      throw new UserError("ucat.configurations: must include 'osv' and 'ucat' (the summary compares them)");
    }
    const clockHz = cpuPreset(config.cpu).clockGHz * 1e9;
    const perFleet = fleetOps(config);
    const rows: UcatRow[] = [];
    const accounting: { configuration: string; resident: number; allocated: number }[] = [];
    ctx.progress.phase('ucat', perFleet * config.configurations.length);
    config.configurations.forEach((name, i) => {
      ctx.progress.update(i * perFleet, `${name}: starting ${config.vms} VMs`);
      const f = runFleet(ucatConfiguration(name), config, ctx.seed, ctx.progress, i * perFleet);
      accounting.push({ configuration: name, resident: f.residentFrames[0] + f.residentFrames[1], allocated: f.allocatedFrames });
      rows.push(toRow(f, clockHz));
    });
    ctx.progress.update(perFleet * config.configurations.length);

    const osv = rows.find((r) => r.configuration === 'osv')!;
    const l2Entries2M = cpuPreset(config.cpu).l2Tlb.filter((a) => a.sizes.includes(PageSize.Size2M)).reduce((t, a) => t + a.entries, 0);
    const ucat = rows.find((r) => r.configuration === 'ucat')!;
    const summary: Record<string, number> = {
      memoryReduction: round(reduction(osv.totalMiB, ucat.totalMiB), 4),
      tlbMissReduction: round(reduction(osv.tlbMissRatio, ucat.tlbMissRatio), 4),
      memslapSpeedup: round(speedup(osv.memslapHostOps, ucat.memslapHostOps), 4),
      ycsbSpeedup: round(speedup(osv.ycsbHostOps, ucat.ycsbHostOps), 4),
      dramReduction: round(reduction(osv.dramMiB, ucat.dramMiB), 4),
      fragmentationOsv: osv.fragmentation,
      fragmentationUcat: ucat.fragmentation,
      tlbMpkaOsv: osv.tlbMpka,
      tlbMpkaUcat: ucat.tlbMpka,
      walkCycleReduction: round(reduction(osv.walkCyclesPerAccess, ucat.walkCyclesPerAccess), 4),
      l1TlbMissReduction: round(reduction(osv.l1TlbMpka, ucat.l1TlbMpka), 4),
      maxLeaves2MUcat: ucat.maxLeaves2M,
      memslapTranslationShareOsv: share(osv.perWorkload.memslap, 'translationCyclesPerOp'),
      memslapDataShareOsv: share(osv.perWorkload.memslap, 'dataCyclesPerOp'),
      memslapNvmLineShareOsv: osv.perWorkload.memslap.nvmLineShare,
      memslapNvmLineShareUcat: ucat.perWorkload.memslap.nvmLineShare,
      ycsbTranslationShareOsv: share(osv.perWorkload.ycsb, 'translationCyclesPerOp'),
      ycsbComputeShareOsv: share(osv.perWorkload.ycsb, 'computeCyclesPerOp'),
      ycsbNvmLineShareOsv: osv.perWorkload.ycsb.nvmLineShare,
      ycsbNvmLineShareUcat: ucat.perWorkload.ycsb.nvmLineShare,
      fleetMemoryOverDramOsv: round(ratio(osv.totalMiB, config.hostDramMiB), 3),
    };

    const ms = { osv: osv.perWorkload.memslap, ucat: ucat.perWorkload.memslap };
    // A value and memcached's "\r\n" suffix, in 64-byte lines (at least; one more when it straddles).
    const valueLines = Math.ceil((config.memslapValueBytes + 2) / 64);
    const yc = { osv: osv.perWorkload.ycsb, ucat: ucat.perWorkload.ycsb };
    const comparisons: PaperComparison[] = [
      {
        metric: 'memory consumption, UCat vs stock OSv',
        paper: '-50%',
        ours: summary.memoryReduction,
        unit: 'fraction less',
        note:
          `Host frames (DRAM + NVM + tables) at the end: ${osv.totalMiB} MiB under stock OSv, ${ucat.totalMiB} MiB under UCat (${pct(-summary.memoryReduction)}). ` +
          `Almost all of it is internal fragmentation: OSv serves memslap's 4098-byte values (4096 + "\\r\\n") with two 4 KiB pages ` +
          `(fragmentation ${pct(osv.fragmentation)} vs ${pct(ucat.fragmentation)} with slabs). Lazy 2 MiB backing costs memory ` +
          'instead of saving it, and the paper does not say what its -50% measures (research/ucat.md §1.4); not tuned.',
      },
      {
        metric: 'TLB miss rate, UCat vs stock OSv',
        paper: '-41%',
        ours: summary.tlbMissReduction,
        unit: 'fraction less',
        note:
          `L2 TLB misses (page walks) per access in the run phase: ${osv.tlbMissRatio} vs ${ucat.tlbMissRatio} (${osv.tlbMpka} vs ${ucat.tlbMpka} MPKA). ` +
          `A UCat VM maps at most ${ucat.maxLeaves2M} 2 MiB pages, backed by 2 MiB host pages, far below the ${l2Entries2M}-entry L2 TLB ` +
          `even when the ${Math.ceil(config.vms / config.cores)} VMs of a core share it (VPID-tagged entries survive the switches); ` +
          'the load phase takes the compulsory misses, the run phase touches no new page, nothing flushes a vCPU\'s TLB, and the ' +
          'model sees only the stores\' data accesses (no code, guest kernel or network stack), so no walk is left. L1 DTLB ' +
          `misses, which the L2 TLB serves: ${osv.l1TlbMpka} vs ${ucat.l1TlbMpka} MPKA. The paper measured whole VMs with perf ` +
          'on real hardware, where those other sources keep misses above zero.',
      },
      {
        metric: 'memslap throughput, UCat vs stock OSv',
        paper: '+18.5% (up to)',
        ours: summary.memslapSpeedup,
        unit: 'fraction faster',
        note:
          `Host ops/s of the memslap VMs: ${osv.memslapHostOps} vs ${ucat.memslapHostOps}. Under stock OSv a get spends ` +
          `${pc(summary.memslapTranslationShareOsv)} of its ${ms.osv.cyclesPerOp} cycles on translation and ${pc(summary.memslapDataShareOsv)} ` +
          `on data: the ${valueLines} lines of a ${config.memslapValueBytes}-byte value are copied as independent misses that overlap, and once the ` +
          `core's stream prefetcher has detected the copy in a 4 KiB page, at the core's share of the tier's bandwidth. UCat removes the translation cycles but reads ${pc(ms.ucat.nvmLineShare)} of its memory lines from NVM, ` +
          `against ${pc(ms.osv.nvmLineShare)} under stock OSv: its back-end gives every VM the same DRAM share, while the tier-unaware ` +
          'host hands DRAM out first come, first served, and the memslap VMs, which allocate fastest in simulated time, took most of it. Not tuned.',
      },
      {
        metric: 'YCSB throughput, UCat vs stock OSv',
        paper: '+14.8% (up to)',
        ours: summary.ycsbSpeedup,
        unit: 'fraction faster',
        note:
          `Host ops/s of the YCSB VMs (workload ${config.ycsbWorkload}): ${osv.ycsbHostOps} vs ${ucat.ycsbHostOps}. A document ` +
          `operation costs 20,000-25,000 modelled compute cycles, ${pc(summary.ycsbComputeShareOsv)} of its cycles under stock OSv. ` +
          `UCat gains the translation share (${pc(summary.ycsbTranslationShareOsv)}) and DRAM: under stock OSv the YCSB VMs got the ` +
          `DRAM the memslap VMs left and read ${pc(yc.osv.nvmLineShare)} of their memory lines from NVM, against ${pc(yc.ucat.nvmLineShare)} ` +
          'under UCat. The paper ran MongoDB, whose per-operation memory traffic is larger than our B+-tree and record model.',
      },
    ];

    const columns = ['configuration', 'dramMiB', 'nvmMiB', 'totalMiB', 'eptTableMiB', 'fragmentation', 'tlbMissRatio', 'tlbMpka', 'l1TlbMpka', 'walkCyclesPerAccess', 'translationCyclesPerAccess', 'memslapOpsPerVm', 'memslapHostOps', 'ycsbOpsPerVm', 'ycsbHostOps'] as const;
    const scale = `${config.vms} VMs of ${config.vmDramMiB}+${config.vmNvmMiB} MiB on ${config.hostDramMiB} MiB DRAM + ${config.hostNvmMiB} MiB NVM, ${config.cores} cores (issue example 64 x 1 GiB on 32 + 256 GiB, scaled)`;
    const workloadRows: (string | number)[][] = [];
    for (const r of rows) {
      for (const w of ['memslap', 'ycsb'] as const) {
        const p = r.perWorkload[w];
        workloadRows.push([
          r.configuration,
          w,
          p.fragmentation,
          p.tlbMissRatio,
          p.tlbMpka,
          p.l1TlbMpka,
          p.walkCyclesPerAccess,
          p.cyclesPerOp,
          p.computeCyclesPerOp,
          p.translationCyclesPerOp,
          p.dataCyclesPerOp,
          p.nvmLineShare,
          w === 'memslap' ? r.memslapOpsPerVm : r.ycsbOpsPerVm,
          w === 'memslap' ? r.memslapHostOps : r.ycsbHostOps,
        ]);
      }
    }
    const series: ResultSeries[] = [
      {
        name: 'tlb-mpka',
        title: 'L2 TLB misses per 1000 accesses per configuration (run phase)',
        x: 'configuration',
        y: 'misses per 1000 accesses',
        yUnit: 'MPKA',
        kind: 'bar',
        points: rows.flatMap((r) => [
          { series: 'memslap', x: r.configuration, y: r.perWorkload.memslap.tlbMpka },
          { series: 'ycsb', x: r.configuration, y: r.perWorkload.ycsb.tlbMpka },
        ]),
      },
      {
        name: 'throughput',
        title: 'Host throughput per configuration (run phase)',
        x: 'configuration',
        y: 'operations per second',
        yUnit: 'ops/s',
        kind: 'bar',
        points: rows.flatMap((r) => [
          { series: 'memslap', x: r.configuration, y: r.memslapHostOps },
          { series: 'ycsb', x: r.configuration, y: r.ycsbHostOps },
        ]),
      },
      {
        name: 'host-memory',
        title: 'Host memory per configuration at the end (DRAM / NVM)',
        x: 'configuration',
        y: 'host memory',
        yUnit: 'MiB',
        kind: 'bar',
        points: rows.flatMap((r) => [
          { series: 'DRAM', x: r.configuration, y: r.dramMiB },
          { series: 'NVM', x: r.configuration, y: r.nvmMiB },
        ]),
      },
    ];
    return {
      experiment: 'ucat',
      title: this.title,
      seed: ctx.seed,
      quick: config.vms < 64,
      config,
      summary,
      comparisons,
      tables: [
        { name: 'configurations', title: `UCat configurations: ${scale}`, columns: [...columns], rows: rows.map((r) => columns.map((c) => r[c])) },
        {
          name: 'workloads',
          title: `Per workload (run phase; memslap get, YCSB ${config.ycsbWorkload}): ${scale}`,
          columns: ['configuration', 'workload', 'fragmentation', 'tlbMissRatio', 'tlbMpka', 'l1TlbMpka', 'walkCyclesPerAccess', 'cyclesPerOp', 'computeCyclesPerOp', 'translationCyclesPerOp', 'dataCyclesPerOp', 'nvmLineShare', 'opsPerVm', 'hostOps'],
          rows: workloadRows,
        },
        {
          name: 'accounting',
          title: 'Host accounting: frames resident per tier (sum) against frames the allocator handed out',
          columns: ['configuration', 'residentFrames', 'allocatedFrames'],
          rows: accounting.map((a) => [a.configuration, a.resident, a.allocated]),
        },
      ],
      series,
    };
  },
};
