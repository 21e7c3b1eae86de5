/**
 * The `machine` experiment: the cost of address translation by page size, native and nested, for
 * three access patterns. It runs the machine model on its own (no host or guest allocators): one
 * vCPU, a working set mapped on first touch, then a measured stream of 8-byte loads.
 *
 * What it shows: the two-dimensional walk of Bhargava et al. (ASPLOS'08) multiplies the cost of a
 * TLB miss, and large pages in *both* dimensions are what bring it down, which is the premise of
 * UCat's cooperative 2 MiB mapping (research/ucat.md §4).
 *
 * The co-scheduling part runs 1, 2, 4 and 8 VMs (one vCPU each, the same per-VM working set of
 * uniform random loads) on one core in time slices (src/sim/scheduler.ts), with and without VPID
 * tagging: the VMs compete for the core's TLBs, which is where large pages pay on a dense host.
 */
import { z } from 'zod';
import { Rng } from '../base/rng.ts';
import { ratio, round } from '../base/stats.ts';
import { PageSize, PAGE_SIZE_BYTES } from '../base/units.ts';
import { CPU_PRESETS, cpuPreset, withoutTranslationCaches } from '../hw/cpu.ts';
import { FlatSpace } from '../hw/flatspace.ts';
import { diffSnapshots } from '../hw/counters.ts';
import { resolveTier, TierMap, TIER_PRESETS } from '../hw/tiers.ts';
import { Machine, VCpu } from '../hw/vcpu.ts';
import { quantumCycles, runOnCores, type CoreTask } from '../sim/scheduler.ts';
import { ScrambledZipfianGenerator } from '../workload/zipfian.ts';
import type { ConfigProblem, Experiment, ExperimentResult, ExperimentWork, PaperComparison, ResultSeries, ResultTable, RunContext } from './types.ts';

/** Translation modes: guest (or native) page size, and EPT page size (null = native). */
export const MACHINE_MODES: Record<string, { guest: PageSize; host: PageSize | null }> = {
  'native-4K': { guest: PageSize.Size4K, host: null },
  'native-2M': { guest: PageSize.Size2M, host: null },
  'nested-4K/4K': { guest: PageSize.Size4K, host: PageSize.Size4K },
  'nested-4K/2M': { guest: PageSize.Size4K, host: PageSize.Size2M },
  'nested-2M/4K': { guest: PageSize.Size2M, host: PageSize.Size4K },
  'nested-2M/2M': { guest: PageSize.Size2M, host: PageSize.Size2M },
  'nested-1G/1G': { guest: PageSize.Size1G, host: PageSize.Size1G },
};

export const MACHINE_PATTERNS = ['sequential', 'uniform', 'zipfian'] as const;
type Pattern = (typeof MACHINE_PATTERNS)[number];

const MiB = 1024 * 1024;

export const machineSchema = z
  .object({
    cpu: z.enum(Object.keys(CPU_PRESETS) as [string, ...string[]]).describe('CPU preset: TLB geometry, PSC/NTLB, caches, clock').meta({ source: 'src/hw/cpu.ts cites each preset (AMD/Intel optimization guides, WikiChip, ChampSim defaults)' }),
    dramTier: z.enum(Object.keys(TIER_PRESETS) as [string, ...string[]]).describe('memory tier holding data and page tables').meta({ source: 'src/hw/tiers.ts cites each preset (Yang et al. FAST 2020; Pond ASPLOS 2023)' }),
    workingSetMiB: z.number().int().min(4).max(64 * 1024).describe('bytes touched by each pattern').meta({ unit: 'MiB', source: 'choice: above the 4 KiB L2 TLB reach of the default preset (Zen 2: 8 MiB), within its 2 MiB reach (4 GiB)' }),
    accesses: z.number().int().min(1000).max(1e9).describe('measured 8-byte loads per pattern and mode').meta({ unit: 'loads', source: 'choice: enough for stable miss rates' }),
    warmupAccesses: z.number().int().min(0).max(1e9).describe('loads of the same pattern before measuring (excluded by snapshot difference)').meta({ unit: 'loads', source: 'ChampSim-style warm-up (roi_stats)' }),
    sequentialStride: z.number().int().min(8).max(4096).describe('bytes between consecutive addresses of the sequential pattern').meta({ unit: 'bytes', source: 'choice: one load per 64 B cache line' }),
    zipfianConstant: z.number().gt(0).lt(1).describe('skew of the zipfian pattern over pages').meta({ source: 'YCSB CoreWorkload zipfian constant 0.99' }),
    patterns: z.array(z.enum(MACHINE_PATTERNS)).min(1).describe('access patterns to run').meta({ source: 'issue: sequential, uniform random over a working set, zipfian' }),
    modes: z.array(z.enum(Object.keys(MACHINE_MODES) as [string, ...string[]])).min(1).describe('translation modes: native or nested, guest/EPT page sizes').meta({ source: 'Bhargava et al. ASPLOS 2008 (2-D walk); x86-64 4K/2M/1G leaves' }),
    coSchedulingVmsPerCore: z.array(z.number().int().min(1).max(64)).describe('VMs sharing one core in the co-scheduling table (empty: no table)').meta({ unit: 'VMs', source: 'issue: 1, 2, 4 and 8 VMs per core' }),
    coSchedulingModes: z.array(z.enum(Object.keys(MACHINE_MODES) as [string, ...string[]])).describe('translation modes of the co-scheduling table').meta({ source: 'issue: nested 4K/4K against 2M/2M' }),
    coSchedulingWorkingSetMiB: z.number().int().min(1).max(64 * 1024).describe('uniform random working set of each co-scheduled VM').meta({ unit: 'MiB', source: 'choice: half the 4 KiB L2 TLB reach of the default preset (Zen 2: 8 MiB), so one VM fits alone and more than two do not fit together' }),
    coSchedulingAccessesPerVm: z.number().int().min(1000).max(1e9).describe('measured 8-byte loads per co-scheduled VM (after warmupAccesses of its own)').meta({ unit: 'loads', source: 'choice: several 3 ms slices per VM at a few tens of cycles per load' }),
    quantumMs: z.number().positive().max(1000).describe('time slice of a vCPU on its core').meta({ unit: 'ms', source: 'Linux CFS minimum granularity on 8+ CPUs (0.75 ms x 4 = 3 ms), src/sim/scheduler.ts' }),
  })
  .strict();

export type MachineConfig = z.infer<typeof machineSchema>;

const DEFAULT_MODES = ['native-4K', 'native-2M', 'nested-4K/4K', 'nested-4K/2M', 'nested-2M/4K', 'nested-2M/2M'];

export interface MachineRow {
  pattern: Pattern;
  mode: string;
  accesses: number;
  tlbMisses: number;
  /** L2 TLB misses (walks) per access. */
  tlbMissRate: number;
  /** L2 TLB misses per thousand accesses. */
  tlbMpka: number;
  /** L1 DTLB misses per access. */
  l1TlbMissRate: number;
  walkRefsPerMiss: number;
  /** Walk references that went to memory (missed every cache), per miss. */
  walkMemRefsPerMiss: number;
  translationCyclesPerAccess: number;
  cyclesPerWalk: number;
  dataCyclesPerAccess: number;
  /** Page-table pages of both dimensions, 4 KiB each. */
  tableFrames: number;
  /** References of one walk with every TLB, paging-structure cache and the nested TLB empty. */
  coldWalkRefs: number;
}

/** Address generator for one pattern: offsets within the working set, 8-byte aligned. */
function makePattern(pattern: Pattern, config: MachineConfig, rng: Rng): () => number {
  const bytes = config.workingSetMiB * MiB;
  if (pattern === 'sequential') {
    let off = -config.sequentialStride;
    return () => {
      off += config.sequentialStride;
      if (off >= bytes) off = 0;
      return off;
    };
  }
  if (pattern === 'uniform') return () => rng.nextInt(bytes / 8) * 8;
  // Zipfian over 4 KiB pages (hot pages scattered by YCSB's FNV scrambling), uniform within a page.
  const pages = bytes / 4096;
  const zipf = new ScrambledZipfianGenerator(rng, 0, pages - 1, config.zipfianConstant);
  return () => zipf.next() * 4096 + rng.nextInt(512) * 8;
}

/**
 * References of one walk with no paging-structure cache and no nested TLB, after the mapping
 * exists (so no fault): the setting of Bhargava et al.'s count. With the preset's caches, upper
 * levels fetched earlier in the same walk would already be cached.
 */
function measureColdWalk(cpuName: string, mode: (typeof MACHINE_MODES)[string]): number {
  const cpu = withoutTranslationCaches(cpuPreset(cpuName));
  const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [2 ** 32]));
  const space = new FlatSpace({ guestPageSize: mode.guest, hostPageSize: mode.host });
  const vcpu = new VCpu(machine, space, 0);
  vcpu.load(space.base, 8);
  vcpu.flushAll();
  const before = vcpu.counters.walkRefs;
  vcpu.load(space.base + 64, 8);
  return vcpu.counters.walkRefs - before;
}

/** Host memory of the machine: data and both dimensions' page tables come from it (64 GiB). */
const MACHINE_HOST_FRAMES = 16 * 1024 * 1024;
/**
 * Host memory kept for page tables, in MiB: 4K leaves over 63 GiB take 2 x 126 MiB; with 1 GiB
 * frames, the tables' 4 KiB frames push the next large frame to the next boundary, and the guest
 * tables take a large frame of their own (measured: 60 GiB fits nested-1G/1G, 62 GiB does not).
 */
const tableAllowanceMiB = (largestMiB: number): number => Math.max(1024, 4 * largestMiB);

/** Cross-field limit: the working set, rounded up to the largest page of a mode, plus the tables must fit. */
function machineConfigProblem(config: MachineConfig): ConfigProblem | undefined {
  const largestMiB = Math.max(...config.modes.map((m) => Math.max(PAGE_SIZE_BYTES[MACHINE_MODES[m].guest], PAGE_SIZE_BYTES[MACHINE_MODES[m].host ?? 0]))) / MiB;
  const hostMiB = (MACHINE_HOST_FRAMES * 4096) / MiB;
  const neededMiB = Math.ceil(config.workingSetMiB / largestMiB) * largestMiB + tableAllowanceMiB(largestMiB);
  if (neededMiB <= hostMiB) return undefined;
  const most = Math.floor((hostMiB - tableAllowanceMiB(largestMiB)) / largestMiB) * largestMiB;
  return { field: 'workingSetMiB', problem: `${config.workingSetMiB} MiB and its page tables do not fit the machine's ${hostMiB} MiB; at most ${most}` };
}

export function runMachineCase(config: MachineConfig, pattern: Pattern, modeName: string, seed: number): MachineRow {
  const mode = MACHINE_MODES[modeName];
  const cpu = cpuPreset(config.cpu);
  const tiers = new TierMap([resolveTier(TIER_PRESETS[config.dramTier], 0, cpu.clockGHz)], [2 ** 32]);
  const machine = new Machine(cpu, tiers);
  const space = new FlatSpace({ guestPageSize: mode.guest, hostPageSize: mode.host, hostFrames: MACHINE_HOST_FRAMES });
  const vcpu = new VCpu(machine, space, 0);
  const bytes = config.workingSetMiB * MiB;
  // Map the whole working set first, so the measurement sees translation, not faults.
  const step = mappingStep(modeName);
  for (let off = 0; off < bytes; off += step) vcpu.load(space.base + off, 8);
  const coldWalkRefs = measureColdWalk(config.cpu, mode);
  const next = makePattern(pattern, config, new Rng(seed).fork(`machine/${pattern}`));
  for (let i = 0; i < config.warmupAccesses; i++) vcpu.load(space.base + next(), 8);
  const before = vcpu.counters.snapshot();
  for (let i = 0; i < config.accesses; i++) vcpu.load(space.base + next(), 8);
  const d = diffSnapshots(before, vcpu.counters.snapshot());
  const walks = d.walks;
  const memRefs = Object.keys(d)
    .filter((k) => k.startsWith('walkRefsMem.'))
    .reduce((t, k) => t + d[k], 0);
  return {
    pattern,
    mode: modeName,
    accesses: d.accesses,
    tlbMisses: walks,
    tlbMissRate: round(ratio(walks, d.accesses), 6),
    tlbMpka: round(ratio(walks * 1000, d.accesses), 3),
    l1TlbMissRate: round(ratio(d.l1TlbMisses, d.accesses), 6),
    walkRefsPerMiss: round(ratio(d.walkRefs, walks), 3),
    walkMemRefsPerMiss: round(ratio(memRefs, walks), 3),
    translationCyclesPerAccess: round(ratio(d.translationCycles, d.accesses), 3),
    cyclesPerWalk: round(ratio(d.walkCycles, walks), 1),
    dataCyclesPerAccess: round(ratio(d.dataCycles, d.accesses), 3),
    tableFrames: space.guest.liveTables + (space.ept?.liveTables ?? 0),
    coldWalkRefs,
  };
}

export interface CoSchedulingRow {
  vmsPerCore: number;
  mode: string;
  vpid: boolean;
  /** L2 TLB misses (walks) per thousand accesses, all VMs. */
  tlbMpka: number;
  l1TlbMpka: number;
  translationCyclesPerAccess: number;
  dataCyclesPerAccess: number;
  /** vCPU switches on the core per thousand accesses, and their direct cost per access. */
  switchesPerKiloAccess: number;
  switchCyclesPerAccess: number;
}

/** Host frames reserved per co-scheduled VM: disjoint physical memory, so VMs share no lines. */
const CO_VM_FRAMES = 1 << 20;
/** Loads per scheduler step: the quantum is checked between steps. */
const CO_STEP_LOADS = 64;

/**
 * `vms` VMs with the same working set of uniform random 8-byte loads, time-sharing one core in
 * quanta: each maps its working set, runs `warmupAccesses`, then `coSchedulingAccessesPerVm`
 * measured loads (the counters of that part only).
 */
export function runCoSchedulingCase(config: MachineConfig, vms: number, modeName: string, vpid: boolean, seed: number): CoSchedulingRow {
  const mode = MACHINE_MODES[modeName];
  const cpu = cpuPreset(config.cpu);
  const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS[config.dramTier], 0, cpu.clockGHz)], [2 ** 32]), { cores: 1, vpid });
  const bytes = config.coSchedulingWorkingSetMiB * MiB;
  const step = mappingStep(modeName);
  const warmup = config.warmupAccesses;
  const total = warmup + config.coSchedulingAccessesPerVm;
  const deltas: Record<string, number>[] = [];
  const tasks: CoreTask[] = [];
  for (let v = 0; v < vms; v++) {
    const space = new FlatSpace({ guestPageSize: mode.guest, hostPageSize: mode.host, hostFirstFrame: v * CO_VM_FRAMES, hostFrames: CO_VM_FRAMES });
    const vcpu = new VCpu(machine, space, v, 0);
    for (let off = 0; off < bytes; off += step) vcpu.load(space.base + off, 8);
    const rng = new Rng(seed).fork(`machine/co-scheduling/${v}`);
    let done = 0;
    let spent = 0;
    let before: Record<string, number> | null = null;
    tasks.push({
      vcpu,
      get done() {
        return done === total;
      },
      step() {
        const n = Math.min(CO_STEP_LOADS, total - done);
        for (let i = 0; i < n; i++) {
          if (done === warmup) before = vcpu.counters.snapshot();
          spent += vcpu.load(space.base + rng.nextInt(bytes / 8) * 8, 8);
          done++;
        }
        if (done === total) deltas[v] = diffSnapshots(before ?? vcpu.counters.snapshot(), vcpu.counters.snapshot());
      },
      spent: () => spent,
    });
  }
  runOnCores(machine, tasks, quantumCycles(machine, config.quantumMs));
  const sum = (k: string) => deltas.reduce((t, d) => t + (d[k] ?? 0), 0);
  const accesses = sum('accesses');
  return {
    vmsPerCore: vms,
    mode: modeName,
    vpid,
    tlbMpka: round(ratio(sum('walks') * 1000, accesses), 3),
    l1TlbMpka: round(ratio(sum('l1TlbMisses') * 1000, accesses), 3),
    translationCyclesPerAccess: round(ratio(sum('translationCycles'), accesses), 3),
    dataCyclesPerAccess: round(ratio(sum('dataCycles'), accesses), 3),
    switchesPerKiloAccess: round(ratio(sum('vcpuSwitches') * 1000, accesses), 4),
    switchCyclesPerAccess: round(ratio(sum('switchCycles'), accesses), 3),
  };
}

/** What the run's preset gives the notes: its L2 TLB entries for 4 KiB pages and their reach, the LLC. */
function presetFacts(cpuName: string): { l2Entries4K: number; reach4KMiB: number; reach2MGiB: number; llcMiB: number; switchCycles: number } {
  const cpu = cpuPreset(cpuName);
  const holds = (s: PageSize) => cpu.l2Tlb.filter((a) => a.sizes.includes(s)).reduce((t, a) => t + a.entries, 0);
  const machine = new Machine(cpu, new TierMap([resolveTier(TIER_PRESETS.ddr4, 0, cpu.clockGHz)], [1]));
  return {
    l2Entries4K: holds(PageSize.Size4K),
    reach4KMiB: (holds(PageSize.Size4K) * 4096) / MiB,
    reach2MGiB: (holds(PageSize.Size2M) * 2 * MiB) / 1024 ** 3,
    llcMiB: machine.llcBytesPerLlc / MiB,
    switchCycles: cpu.vcpuSwitchCycles,
  };
}

const CO_COLUMNS = ['vmsPerCore', 'mode', 'vpid', 'tlbMpka', 'l1TlbMpka', 'translationCyclesPerAccess', 'dataCyclesPerAccess', 'switchesPerKiloAccess', 'switchCyclesPerAccess'] as const;

/** Cold walk references per nested mode, next to Bhargava et al.'s (n+1)(m+1)-1. */
const BHARGAVA_COLD_REFS: Record<string, number> = { 'native-4K': 4, 'nested-4K/4K': 24, 'nested-4K/2M': 19, 'nested-2M/4K': 19, 'nested-2M/2M': 15 };

function coldWalkComparisons(rows: MachineRow[]): PaperComparison[] {
  const out: PaperComparison[] = [];
  for (const [mode, refs] of Object.entries(BHARGAVA_COLD_REFS)) {
    const row = rows.find((r) => r.mode === mode);
    if (!row) continue;
    out.push({
      metric: `cold walk references, ${mode}`,
      paper: `${refs} (Bhargava et al. ASPLOS'08)`,
      ours: row.coldWalkRefs,
      unit: 'references',
      note: 'one walk measured with the TLBs flushed and no paging-structure cache or nested TLB (their setting); with the preset\'s caches, levels fetched earlier in the same walk hit',
    });
  }
  return out;
}

/** Smallest page of a mode: the step of the loads that map a working set before a case measures. */
function mappingStep(modeName: string): number {
  const mode = MACHINE_MODES[modeName];
  return Math.min(PAGE_SIZE_BYTES[mode.guest], mode.host === null ? Infinity : PAGE_SIZE_BYTES[mode.host]);
}

/**
 * Loads a configuration simulates, counted as the cases make them: per pattern and mode, one load
 * per page to map the working set, two for the cold walk, the warm-up and the measured loads; per
 * co-scheduling case, each VM maps its working set and makes its warm-up and measured loads.
 */
export function machineWork(config: MachineConfig): ExperimentWork {
  let loads = 0;
  for (const mode of config.modes) loads += config.patterns.length * (Math.ceil((config.workingSetMiB * MiB) / mappingStep(mode)) + 2 + config.warmupAccesses + config.accesses);
  const vms = config.coSchedulingVmsPerCore.reduce((t, n) => t + n, 0);
  for (const mode of config.coSchedulingModes) {
    // Twice: with and without VPID tagging.
    loads += 2 * vms * (Math.ceil((config.coSchedulingWorkingSetMiB * MiB) / mappingStep(mode)) + config.warmupAccesses + config.coSchedulingAccessesPerVm);
  }
  return { amount: loads, unit: 'simulated loads', fields: ['workingSetMiB', 'accesses', 'warmupAccesses', 'patterns', 'modes', 'coSchedulingVmsPerCore', 'coSchedulingModes', 'coSchedulingAccessesPerVm'] };
}

/** Every pattern under every mode, then every co-scheduling case, with progress. */
function runAllCases(config: MachineConfig, ctx: RunContext): { rows: MachineRow[]; coRows: CoSchedulingRow[] } {
  const rows: MachineRow[] = [];
  const coCases = config.coSchedulingVmsPerCore.length * config.coSchedulingModes.length * 2;
  const total = config.patterns.length * config.modes.length + coCases;
  ctx.progress.phase('machine', total);
  for (const pattern of config.patterns) {
    for (const mode of config.modes) {
      ctx.progress.update(rows.length, `${pattern} ${mode}`);
      rows.push(runMachineCase(config, pattern, mode, ctx.seed));
    }
  }
  const coRows: CoSchedulingRow[] = [];
  for (const mode of config.coSchedulingModes) {
    for (const vpid of [true, false]) {
      for (const vms of config.coSchedulingVmsPerCore) {
        ctx.progress.update(rows.length + coRows.length, `co-scheduling ${vms} VMs ${mode}${vpid ? '' : ' without VPID'}`);
        coRows.push(runCoSchedulingCase(config, vms, mode, vpid, ctx.seed));
      }
    }
  }
  ctx.progress.update(total);
  return { rows, coRows };
}

/** Headline figures: uniform random loads nested 4K/4K against 2M/2M and native, and the co-scheduling extremes. */
function machineSummary(config: MachineConfig, rows: MachineRow[], coRows: CoSchedulingRow[]): Record<string, number> {
  const find = (p: string, m: string) => rows.find((r) => r.pattern === p && r.mode === m);
  const summary: Record<string, number> = {};
  const u44 = find('uniform', 'nested-4K/4K');
  const u22 = find('uniform', 'nested-2M/2M');
  const n4 = find('uniform', 'native-4K');
  if (u44 && u22) {
    summary.uniformNested4K4KRefsPerMiss = u44.walkRefsPerMiss;
    summary.uniformNested2M2MRefsPerMiss = u22.walkRefsPerMiss;
    summary.uniformTlbMissReduction2M2M = round(ratio(u44.tlbMissRate - u22.tlbMissRate, u44.tlbMissRate), 4);
    summary.uniformTranslationCycleReduction2M2M = round(ratio(u44.translationCyclesPerAccess - u22.translationCyclesPerAccess, u44.translationCyclesPerAccess), 4);
  }
  if (u44 && n4) summary.uniformNestedOverNativeTranslationCost = round(ratio(u44.translationCyclesPerAccess, n4.translationCyclesPerAccess), 3);
  const co = (vms: number, mode: string, vpid: boolean) => coRows.find((r) => r.vmsPerCore === vms && r.mode === mode && r.vpid === vpid);
  const coMost = Math.max(0, ...config.coSchedulingVmsPerCore);
  for (const [key, mode] of [['4K4K', 'nested-4K/4K'], ['2M2M', 'nested-2M/2M']] as const) {
    const alone = co(1, mode, true);
    const most = co(coMost, mode, true);
    const untagged = co(coMost, mode, false);
    if (alone) summary[`coScheduling${key}TlbMpkaAlone`] = alone.tlbMpka;
    if (most && coMost > 1) summary[`coScheduling${key}TlbMpkaMostVms`] = most.tlbMpka;
    if (untagged && coMost > 1) summary[`coScheduling${key}TlbMpkaMostVmsNoVpid`] = untagged.tlbMpka;
  }
  return summary;
}

const MACHINE_COLUMNS = ['pattern', 'mode', 'tlbMissRate', 'tlbMpka', 'walkRefsPerMiss', 'walkMemRefsPerMiss', 'translationCyclesPerAccess', 'cyclesPerWalk', 'dataCyclesPerAccess', 'tableFrames', 'coldWalkRefs'] as const;

/** The translation table and the co-scheduling table, titled with the run's own preset facts. */
function machineTables(config: MachineConfig, rows: MachineRow[], coRows: CoSchedulingRow[]): ResultTable[] {
  const facts = presetFacts(config.cpu);
  return [
    {
      name: 'translation',
      title:
        `Translation cost, ${config.cpu} (L2 TLB ${facts.l2Entries4K} entries for 4 KiB pages: reach ${facts.reach4KMiB} MiB, ${facts.reach2MGiB} GiB with 2 MiB pages; ` +
        `LLC ${facts.llcMiB} MiB), ${config.workingSetMiB} MiB working set, ${config.accesses} loads per case`,
      columns: [...MACHINE_COLUMNS],
      rows: rows.map((r) => MACHINE_COLUMNS.map((c) => r[c])),
    },
    {
      name: 'co-scheduling',
      title:
        `VMs time-sharing one ${config.cpu} core, ${config.coSchedulingWorkingSetMiB} MiB uniform random per VM ` +
        `(${round(ratio(config.coSchedulingWorkingSetMiB, facts.reach4KMiB), 3)} of the 4 KiB L2 TLB reach), ${config.quantumMs} ms slices, ` +
        `${facts.switchCycles} cycles per switch, ${config.coSchedulingAccessesPerVm} loads per VM`,
      columns: [...CO_COLUMNS],
      rows: coRows.map((r) => CO_COLUMNS.map((c) => (typeof r[c] === 'boolean' ? String(r[c]) : (r[c] as string | number)))),
    },
  ];
}

function machineSeries(rows: MachineRow[], coRows: CoSchedulingRow[]): ResultSeries[] {
  return [
    {
      name: 'translation-cycles',
      title: 'Translation cycles per access by page size',
      x: 'mode',
      y: 'translation cycles per access',
      yUnit: 'cycles',
      kind: 'bar',
      points: rows.map((r) => ({ series: r.pattern, x: r.mode, y: r.translationCyclesPerAccess })),
    },
    {
      name: 'co-scheduling',
      title: 'L2 TLB misses per thousand accesses with VMs sharing a core',
      x: 'VMs per core',
      y: 'misses per 1000 accesses',
      yUnit: 'MPKA',
      kind: 'line',
      points: coRows.map((r) => ({ series: `${r.mode}${r.vpid ? '' : ' no VPID'}`, x: r.vmsPerCore, y: r.tlbMpka })),
    },
    {
      name: 'tlb-miss-rate',
      title: 'L2 TLB misses per thousand accesses by page size',
      x: 'mode',
      y: 'misses per 1000 accesses',
      yUnit: 'MPKA',
      kind: 'bar',
      points: rows.map((r) => ({ series: r.pattern, x: r.mode, y: r.tlbMpka })),
    },
  ];
}

export const machineExperiment: Experiment<typeof machineSchema> = {
  name: 'machine',
  title: 'Machine model: translation cost by page size, native and nested',
  description:
    'Runs the machine model alone (one vCPU, Zen 2 geometry by default) over a working set mapped on first touch, ' +
    'for sequential, uniform random and zipfian (YCSB scrambled, 0.99) 8-byte loads, under native 4K/2M paging and nested ' +
    'paging with every combination of 4K and 2M guest and EPT pages. It reports the L2 TLB miss rate, walk references per ' +
    'miss (a cold nested 4K/4K walk makes 24, Bhargava et al. ASPLOS 2008) and translation cycles per access. ' +
    'Large pages must be used in both dimensions to cut the nested walk, the premise of UCat. ' +
    'A co-scheduling table runs (by default) 1 to 8 VMs with the same working set on one core in 3 ms time slices, 4K/4K against 2M/2M, with and ' +
    'without VPID tagging: the VMs compete for the core\'s TLBs.',
  schema: machineSchema,
  check: machineConfigProblem,
  defaults(quick: boolean): MachineConfig {
    return {
      cpu: 'zen2',
      dramTier: 'ddr4',
      workingSetMiB: quick ? 256 : 1024,
      accesses: quick ? 200_000 : 2_000_000,
      warmupAccesses: quick ? 50_000 : 500_000,
      sequentialStride: 64,
      zipfianConstant: 0.99,
      patterns: [...MACHINE_PATTERNS],
      modes: [...DEFAULT_MODES],
      coSchedulingVmsPerCore: [1, 2, 4, 8],
      coSchedulingModes: ['nested-4K/4K', 'nested-2M/2M'],
      coSchedulingWorkingSetMiB: 4,
      coSchedulingAccessesPerVm: quick ? 200_000 : 1_000_000,
      quantumMs: 3,
    };
  },
  work: machineWork,
  run(config, ctx): ExperimentResult {
    const { rows, coRows } = runAllCases(config, ctx);
    return {
      experiment: 'machine',
      title: this.title,
      seed: ctx.seed,
      quick: ctx.quick ?? false,
      config,
      summary: machineSummary(config, rows, coRows),
      comparisons: coldWalkComparisons(rows),
      tables: machineTables(config, rows, coRows),
      series: machineSeries(rows, coRows),
    };
  },
};
