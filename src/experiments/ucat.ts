/**
 * The `ucat` experiment: UCat's evaluation (Tian et al., FCS 2023; research/ucat.md §1) on a
 * scaled-down DRAM + NVM server. Two fleets of OSv-like unikernel VMs, one replaying a trace of
 * real memcached driven by memslap, one a trace of real Redis driven by our YCSB client (or the
 * store models, `workload: model`), run under stock OSv, OSv with 4 KiB pages, OSv with UCat's
 * slabs and UCat (plus ablations), on the host backings and DRAM shares the config lists. We report
 * host memory, guest internal fragmentation, TLB misses, walk cycles and throughput, and UCat
 * against stock OSv beside the paper's abstract.
 *
 * Nothing here is tuned towards the paper's figures: every parameter is a tool default, the
 * issue's example scaled down, or a stated choice (docs/ucat-experiment.md).
 */
import { z } from 'zod';
import { UserError } from '../base/errors.ts';
import { ratio, reduction, round, speedup } from '../base/stats.ts';
import { CPU_PRESETS, cpuPreset } from '../hw/cpu.ts';
import { TIER_PRESETS } from '../hw/tiers.ts';
import { YCSB_CORE_WORKLOADS } from '../workload/ycsb.ts';
import { DEFAULT_QUANTUM_MS } from '../sim/scheduler.ts';
import { configurationRow, workloadFigures, type ConfigurationRow, type WorkloadFigures } from './ucat/aggregate.ts';
import { DRAM_POLICIES, HOST_BACKINGS, UCAT_CONFIGURATION_NAMES, fleetSetup, ucatConfiguration, type DramPolicy, type FleetSetup, type HostBacking } from './ucat/configs.ts';
import { runFleet, workloadUnits, type FleetParams, type FleetWorkload, type ModelParams } from './ucat/fleet.ts';
import { ucatComparisons } from './ucat/notes.ts';
import { prepareUcat } from './ucat/prepare.ts';
import { ucatSeries, ucatTables, type SweepPoint } from './ucat/tables.ts';
import { WORKLOAD_NAMES, fleetWorkload, isUcatInputs, workloadDescription } from './ucat/workloads.ts';
import type { ConfigProblem, Experiment, ExperimentResult, ExperimentWork, RunContext } from './types.ts';

const tierNames = Object.keys(TIER_PRESETS) as [string, ...string[]];
const mib = (max: number) => z.number().int().min(2).max(max);

export const ucatSchema = z
  .object({
    workload: z.enum(['trace', 'model']).describe('what each VM runs: a replayed trace of the real program (memcached+memslap, Redis+YCSB) or the store models').meta({ source: 'issue 11: real programs; the models stay for quick sweeps' }),
    traceSize: z.enum(['small', 'standard']).describe('trace workload: the capture window (small: a few dozen requests, for tests; standard: memslap 1000 pairs, YCSB 1000 records and 1000 operations)').meta({ source: 'src/trace/workloads.ts; lackey serves about 100 requests/s (research/hostcheck.md §5), so windows stay short' }),
    ycsbTraceWorkload: z.enum(['A', 'B', 'C', 'D', 'E', 'F']).describe('trace workload: the YCSB core workload our client drives Redis with').meta({ source: 'YCSB workloads/workloada (50% read, 50% update, zipfian 0.99)' }),
    withInstructions: z.boolean().describe('trace workload: record instruction fetches too (compute then costs per instruction instead of per request)').meta({ source: 'issue 11: capture --with-instructions' }),
    cpu: z.enum(Object.keys(CPU_PRESETS) as [string, ...string[]]).describe('CPU preset: TLB geometry, PSC/NTLB, caches, clock').meta({ source: 'src/hw/cpu.ts; icelake is the Intel generation closest to the Optane DCPMM servers UCat used (research/ucat.md §1.3)' }),
    dramTier: z.enum(tierNames).describe('host DRAM tier preset').meta({ source: 'src/hw/tiers.ts (DDR4, Yang et al. FAST 2020)' }),
    nvmTier: z.enum(tierNames).describe('host NVM tier preset').meta({ source: 'src/hw/tiers.ts (Optane DCPMM, Yang et al. FAST 2020); UCat cites ndctl/ipmctl, i.e. real Optane' }),
    vms: z.number().int().min(1).max(4096).describe('VMs per fleet; the memslap and YCSB halves run as separate fleets, each on its own host').meta({ unit: 'VMs', source: 'issue example: 64 VMs, half memslap, half YCSB' }),
    vmDramMiB: mib(1 << 20).describe('DRAM share per VM (the headline): host DRAM is the fleet\'s shares added up').meta({ unit: 'MiB', source: 'choice, below the VM\'s footprint so that placement matters (docs/ucat-experiment.md)' }),
    vmNvmMiB: mib(1 << 22).describe('NVM per VM; host NVM is the fleet\'s shares added up').meta({ unit: 'MiB', source: 'choice: room for the whole footprint under every configuration' }),
    dramSharesMiB: z.array(mib(1 << 20)).max(16).describe('DRAM shares per VM swept for stock OSv and UCat (the dram-shares table and plot)').meta({ unit: 'MiB', source: 'issue 11: at least three shares' }),
    dramPolicies: z.array(z.enum(DRAM_POLICIES)).min(1).describe('host DRAM policies for the tier-unaware configurations; the first is the headline').meta({ source: 'first-come: a tier-unaware host backs each VM from DRAM while it lasts; equal-share: UCat\'s back-end layout seen by an unaware guest' }),
    hostBacking: z.array(z.enum(HOST_BACKINGS)).min(1).describe('host backing of the tier-unaware configurations (thp: 2 MiB where possible, 4k: never); the first is the headline').meta({ source: 'thp: QEMU madvises guest RAM MADV_HUGEPAGE; THP madvise is Ubuntu\'s default, always RHEL\'s (docs/ucat-experiment.md)' }),
    cores: z.number().int().min(1).max(512).describe('physical cores of each fleet\'s host; VM i\'s single vCPU is pinned to core i mod cores and time-shares it (throughput from simulated time on the cores)').meta({ unit: 'cores', source: 'choice: two vCPUs per core; at most 512, as for the sharing experiments: every core\'s caches are simulated' }),
    quantumMs: z.number().min(0.01).max(1000).describe('time slice of a vCPU on its core').meta({ unit: 'ms', source: 'Linux CFS minimum granularity on 8+ CPUs (0.75 ms x 4 = 3 ms), src/sim/scheduler.ts' }),
    vpid: z.boolean().describe('VPID-tagged translations: another VM\'s TLB entries survive a switch (false: a core flushes its TLBs on every vCPU switch)').meta({ source: 'KVM enables VPID where the CPU has it (kvm_intel enable_vpid=1), every Intel server core since Westmere' }),
    warmupShare: z.number().min(0).max(0.9).describe('share of a trace\'s events replayed before the measurement starts, for traces that do not mark their run phase (meta.runRequests and reply markers)').meta({ source: 'choice, in the manner of trace simulators\' warm-up (ChampSim --warmup-instructions)' }),
    traceRunRequests: z.number().int().min(0).max(100_000_000).describe('trace workload: the last requests of the run phase that are measured (0: the whole run phase); the rest is warm-up').meta({ unit: 'requests', source: 'choice: the steady state of the run phase, short enough to replay on every VM' }),
    memslapInitialLoad: z.number().int().min(1).max(10_000_000).describe('model workload: memslap --initial-load (pairs set, then as many gets)').meta({ unit: 'pairs', source: 'memslap DEFAULT_INITIAL_LOAD 10000 (libmemcached)' }),
    memslapValueBytes: z.number().int().min(1).max(1 << 20).describe('model workload: memslap value size').meta({ unit: 'bytes', source: 'memslap VALUE_BYTES 4096 (libmemcached)' }),
    memcachedMemLimitMiB: z.number().int().min(1).max(1 << 20).describe('model workload: memcached -m, item memory before eviction').meta({ unit: 'MiB', source: 'choice: no configuration evicts' }),
    ycsbWorkload: z.enum(Object.keys(YCSB_CORE_WORKLOADS) as [string, ...string[]]).describe('model workload: YCSB core workload letter').meta({ source: 'YCSB workloads/workloada (50% read, 50% update, zipfian 0.99)' }),
    ycsbRecordCount: z.number().int().min(1).max(100_000_000).describe('model workload: YCSB recordcount (1 KB records)').meta({ unit: 'records', source: 'choice' }),
    ycsbOperationCount: z.number().int().min(1).max(100_000_000).describe('model workload: YCSB operationcount').meta({ unit: 'operations', source: 'choice: as many as records' }),
    configurations: z.array(z.enum(UCAT_CONFIGURATION_NAMES)).min(2).describe('configurations to compare; must include osv and ucat').meta({ source: 'issue: stock OSv, OSv with large pages, OSv with slabs, UCat (src/experiments/ucat/configs.ts)' }),
  })
  .strict();

export type UcatConfig = z.infer<typeof ucatSchema>;

/**
 * Guest memory a YCSB record of the model workload takes at most: a 1 KB record is 1-1.2 KiB in
 * every allocator, plus its index entry; 2 KiB per record leaves room.
 */
const YCSB_RECORD_ALLOWANCE_KIB = 2;

/** Cross-field limits, checked by `config check` and `run` alike before anything runs. */
function ucatConfigProblem(c: UcatConfig): ConfigProblem | undefined {
  if (!c.configurations.includes('osv') || !c.configurations.includes('ucat')) {
    return { field: 'configurations', problem: "must include 'osv' and 'ucat' (the summary compares them)" };
  }
  const guestKiB = (c.vmDramMiB + c.vmNvmMiB) * 1024;
  if (c.workload === 'model' && c.ycsbRecordCount * YCSB_RECORD_ALLOWANCE_KIB > guestKiB) {
    return { field: 'ycsbRecordCount', problem: `${c.ycsbRecordCount} records of 1 KB do not fit a VM of vmDramMiB + vmNvmMiB = ${guestKiB / 1024} MiB; at most ${Math.floor(guestKiB / YCSB_RECORD_ALLOWANCE_KIB)}` };
  }
  return undefined;
}

/** One fleet pair to run: a configuration on one host setting and DRAM share. */
interface PlannedRun {
  setup: FleetSetup;
  shareMiB: number;
}

const runKey = (name: string, backing: string, policy: string, share: number) => `${name}|${backing}|${policy}|${share}`;

/** Every fleet pair the config asks for: the configurations table, then the DRAM-share sweep. */
function planRuns(config: UcatConfig): { main: PlannedRun[]; sweep: PlannedRun[] } {
  const headlinePolicy = config.dramPolicies[0];
  const headlineBacking = config.hostBacking[0];
  const main: PlannedRun[] = [];
  for (const name of config.configurations) {
    const c = ucatConfiguration(name);
    const backings: readonly HostBacking[] = c.backing ? [c.backing] : config.hostBacking;
    for (const b of backings) main.push({ setup: fleetSetup(c, b, headlinePolicy), shareMiB: config.vmDramMiB });
  }
  const sweep: PlannedRun[] = [];
  for (const share of config.dramSharesMiB) {
    for (const policy of config.dramPolicies) sweep.push({ setup: fleetSetup(ucatConfiguration('osv'), headlineBacking, policy), shareMiB: share });
    sweep.push({ setup: fleetSetup(ucatConfiguration('ucat'), headlineBacking, headlinePolicy), shareMiB: share });
  }
  return { main, sweep };
}

const keyOf = (r: PlannedRun) => runKey(r.setup.configuration.name, r.setup.backing, r.setup.dramPolicy, r.shareMiB);

/** Run every planned pair of fleets once (a sweep point equal to a main row reuses it). */
function runPlanned(config: UcatConfig, runs: PlannedRun[], workloads: FleetWorkload[], ctx: RunContext): Map<string, ConfigurationRow> {
  const clockHz = cpuPreset(config.cpu).clockGHz * 1e9;
  const unique = new Map<string, PlannedRun>();
  for (const r of runs) if (!unique.has(keyOf(r))) unique.set(keyOf(r), r);
  const perPair = workloads.reduce((t, w) => t + workloadUnits(w) * config.vms, 0);
  ctx.progress.phase('ucat', perPair * unique.size);
  const rows = new Map<string, ConfigurationRow>();
  let i = 0;
  for (const [key, r] of unique) {
    const { cpu, dramTier, nvmTier, vms, vmNvmMiB, cores, quantumMs, vpid } = config;
    const params: FleetParams = { cpu, dramTier, nvmTier, vms, vmDramMiB: r.shareMiB, vmNvmMiB, cores, quantumMs, vpid };
    const figures: WorkloadFigures[] = [];
    let before = i * perPair;
    for (const w of workloads) {
      const f = runFleet(r.setup, w, params, ctx.seed, ctx.progress, before);
      before += workloadUnits(w) * config.vms;
      figures.push(workloadFigures(f, clockHz));
      checkAccounting(f.residentFrames, f.allocatedFrames, key);
    }
    const s = r.setup;
    rows.set(key, configurationRow({ configuration: s.configuration.name, hostBacking: s.backing, dramPolicy: s.dramPolicy, dramShareMiB: r.shareMiB }, figures[0], figures[1]));
    i++;
    ctx.progress.update(i * perPair);
  }
  return rows;
}

/** Host frames counted per tier must equal the frames the host allocator handed out. */
function checkAccounting(resident: number[], allocated: number, key: string): void {
  if (resident[0] + resident[1] !== allocated) throw new Error(`ucat ${key}: host accounting differs (${resident[0] + resident[1]} resident, ${allocated} allocated)`);
}

function modelParams(config: UcatConfig): ModelParams {
  const { memslapInitialLoad, memslapValueBytes, memcachedMemLimitMiB, ycsbWorkload, ycsbRecordCount, ycsbOperationCount } = config;
  return { memslapInitialLoad, memslapValueBytes, memcachedMemLimitMiB, ycsbWorkload, ycsbRecordCount, ycsbOperationCount };
}

function fleetWorkloads(config: UcatConfig, ctx: RunContext): FleetWorkload[] {
  if (config.workload === 'trace' && !isUcatInputs(ctx.inputs)) {
    throw new UserError('ucat: workload trace needs the captured traces, which `unimem run ucat` captures (or takes from its cache) before the run; use workload: model for the store models');
  }
  const inputs = isUcatInputs(ctx.inputs) ? ctx.inputs : undefined;
  return WORKLOAD_NAMES.map((n) => fleetWorkload(n, config.workload, inputs, modelParams(config), config.warmupShare, config.traceRunRequests));
}

/** The summary's words: which row is the baseline, and what each workload ran. */
function describeRun(config: UcatConfig, workloads: FleetWorkload[]): { workloads: string; baseline: string } {
  const backing = config.hostBacking[0] === 'thp' ? '2 MiB (THP) host backing' : '4 KiB host backing';
  const policy = config.dramPolicies[0] === 'first-come' ? 'a tier-unaware host that backs VMs from DRAM first come, first served' : 'a tier-unaware guest on a host that gives each VM its DRAM share';
  return {
    workloads: workloads.map((w) => `${w.name}: ${workloadDescription(w)}`).join('; '),
    baseline:
      `stock OSv (guest preset osv: malloc from the linear maps on 2 MiB pages, power-of-two pools of 8-1024 B with a 40 B page header, ` +
      `whole pages to 4 KiB, page ranges above, mappings of 2 MiB and more on 2 MiB pages) on ${policy}, with ${backing}, ` +
      `${config.vmDramMiB} MiB of DRAM per VM`,
  };
}

function summarize(config: UcatConfig, osv: ConfigurationRow, ucat: ConfigurationRow): Record<string, number> {
  const share = (w: WorkloadFigures, part: 'computeCyclesPerOp' | 'translationCyclesPerOp' | 'dataCyclesPerOp') => round(w[part] / (w.cyclesPerOp || 1), 4);
  const ms = { osv: osv.perWorkload.memslap, ucat: ucat.perWorkload.memslap };
  const yc = { osv: osv.perWorkload.ycsb, ucat: ucat.perWorkload.ycsb };
  return {
    memoryReduction: round(reduction(osv.totalMiB, ucat.totalMiB), 4),
    // From the counts: the rounded ratios hide a handful of walks in millions of accesses.
    tlbMissReduction: round(reduction(ratio(osv.walks, osv.accesses), ratio(ucat.walks, ucat.accesses)), 4),
    memslapSpeedup: round(speedup(osv.memslapHostOps, ucat.memslapHostOps), 4),
    ycsbSpeedup: round(speedup(osv.ycsbHostOps, ucat.ycsbHostOps), 4),
    dramShareMiB: config.vmDramMiB,
    dramReduction: round(reduction(osv.dramMiB, ucat.dramMiB), 4),
    fragmentationOsv: osv.fragmentation,
    fragmentationUcat: ucat.fragmentation,
    tlbMpkaOsv: osv.tlbMpka,
    tlbMpkaUcat: ucat.tlbMpka,
    l1TlbMpkaOsv: osv.l1TlbMpka,
    l1TlbMpkaUcat: ucat.l1TlbMpka,
    walkCycleReduction: round(reduction(osv.walkCyclesPerAccess, ucat.walkCyclesPerAccess), 4),
    maxLeaves2MOsv: osv.maxLeaves2M,
    maxLeaves2MUcat: ucat.maxLeaves2M,
    memslapTranslationShareOsv: share(ms.osv, 'translationCyclesPerOp'),
    memslapDataShareOsv: share(ms.osv, 'dataCyclesPerOp'),
    memslapComputeShareOsv: share(ms.osv, 'computeCyclesPerOp'),
    memslapNvmLineShareOsv: ms.osv.nvmLineShare,
    memslapNvmLineShareUcat: ms.ucat.nvmLineShare,
    ycsbTranslationShareOsv: share(yc.osv, 'translationCyclesPerOp'),
    ycsbDataShareOsv: share(yc.osv, 'dataCyclesPerOp'),
    ycsbComputeShareOsv: share(yc.osv, 'computeCyclesPerOp'),
    ycsbNvmLineShareOsv: yc.osv.nvmLineShare,
    ycsbNvmLineShareUcat: yc.ucat.nvmLineShare,
    fleetMemoryOverDramOsv: round(osv.totalMiB / (2 * config.vms * config.vmDramMiB), 3),
  };
}

/** The DRAM-share sweep: UCat against stock OSv under each policy, per share. */
function sweepPoints(config: UcatConfig, rows: Map<string, ConfigurationRow>): SweepPoint[] {
  const backing = config.hostBacking[0];
  const points: SweepPoint[] = [];
  for (const share of config.dramSharesMiB) {
    const ucat = rows.get(runKey('ucat', 'thp', 'equal-share', share))!;
    for (const policy of config.dramPolicies) {
      const osv = rows.get(runKey('osv', backing, policy, share))!;
      points.push({ shareMiB: share, policy, osv, ucat });
    }
  }
  return points;
}

/** Requests of a whole capture, an upper count (docs/traces.md: standard memcached 5,000, Redis 3,000). */
const CAPTURE_REQUESTS = { small: 100, standard: 5000 } as const;

/** Requests the fleets replay: per planned run (configurations and backings, the DRAM-share sweep), every VM of both fleets. */
function ucatWork(config: UcatConfig): ExperimentWork {
  const runs = config.configurations.length * config.hostBacking.length + config.dramSharesMiB.length * (config.dramPolicies.length + 1);
  const trace = config.workload === 'trace';
  const perVm = trace ? 2 * CAPTURE_REQUESTS[config.traceSize] : 2 * config.memslapInitialLoad + config.ycsbRecordCount + config.ycsbOperationCount;
  const fields = trace ? ['traceSize'] : ['memslapInitialLoad', 'ycsbRecordCount', 'ycsbOperationCount'];
  return { amount: runs * config.vms * perVm, unit: 'requests replayed', fields: ['vms', 'configurations', 'hostBacking', 'dramSharesMiB', 'dramPolicies', ...fields] };
}

export const ucatExperiment: Experiment<typeof ucatSchema> = {
  name: 'ucat',
  title: 'UCat: heterogeneous memory, large pages and slabs for OSv unikernels',
  description:
    'Compares with the evaluation of UCat (Tian, Liu, Liao, Jin; Front. Comput. Sci. 2023) on a scaled-down DRAM + NVM server: ' +
    'two fleets of single-vCPU OSv-like VMs, one replaying a trace of real memcached under memslap, one a trace of real Redis under ' +
    'a YCSB client (workload: model runs the store models instead), each fleet\'s memory larger than its DRAM. Allocation events ' +
    'drive the guest allocator under test, every access is replayed through guest page table, EPT, TLBs, caches and tiers. It ' +
    'compares stock OSv (2 MiB-page linear maps, power-of-two pools, tier-unaware host), OSv with 4 KiB pages, OSv with UCat\'s ' +
    'slabs and UCat (tier-aware 2 MiB-aligned back-end, 2 MiB pages, slabs, tier placement), on the listed host backings and DRAM ' +
    'shares, and reports host memory, guest internal fragmentation, TLB misses, walk cycles and throughput, with UCat against stock ' +
    'OSv beside the paper\'s abstract (-50% memory, -41% TLB miss rate, +18.5% memslap, +14.8% YCSB). See docs/ucat-experiment.md.',
  howToRead:
    'The "configurations" table has one row per configuration and host backing: host memory at the end of both fleets (DRAM, NVM, ' +
    'total, EPT tables), guest internal fragmentation (reserved over requested, minus one), TLB misses of the measured window (L2 ' +
    'misses, i.e. page walks, per access and per thousand accesses; L1 DTLB misses per thousand), walk cycles per access, and ' +
    'throughput per VM and per host (requests over the core time of the measured windows: each VM\'s vCPU runs on one of the host\'s ' +
    'cores, in time slices of quantumMs with the VMs that share it). The "workloads" table splits the same by workload and adds where a request\'s ' +
    'core cycles go (modelled compute, translation, data lines, first-touch faults, vCPU switches), the data lines served by memory ' +
    'per request and the share of them that came from NVM. The "dram-shares" table and plot repeat stock OSv and UCat at other DRAM shares per VM and host DRAM policies. The ' +
    'summary quotes the first host backing, the first DRAM policy and vmDramMiB, and names both in words.',
  schema: ucatSchema,
  defaults(quick: boolean): UcatConfig {
    return {
      workload: 'trace',
      traceSize: 'standard',
      ycsbTraceWorkload: 'A',
      withInstructions: false,
      cpu: 'icelake',
      dramTier: 'ddr4',
      nvmTier: 'optane',
      vms: quick ? 2 : 8,
      vmDramMiB: 4,
      vmNvmMiB: 64,
      dramSharesMiB: [2, 4, 8],
      dramPolicies: ['first-come', 'equal-share'],
      hostBacking: ['thp', '4k'],
      cores: quick ? 1 : 4,
      quantumMs: DEFAULT_QUANTUM_MS,
      vpid: true,
      warmupShare: 0.25,
      traceRunRequests: quick ? 25 : 100,
      memslapInitialLoad: quick ? 4000 : 10000,
      memslapValueBytes: 4096,
      memcachedMemLimitMiB: 96,
      ycsbWorkload: 'A',
      ycsbRecordCount: quick ? 15000 : 40000,
      ycsbOperationCount: quick ? 15000 : 40000,
      configurations: quick ? ['osv', 'osv-4k', 'ucat'] : ['osv', 'osv-4k', 'osv-ucat-slabs', 'ucat', 'ucat-no-tiers', 'ucat-4k'],
    };
  },
  prepare(config, ctx) {
    return prepareUcat(config, ctx);
  },
  check: ucatConfigProblem,
  work: ucatWork,
  run(config, ctx): ExperimentResult {
    const workloads = fleetWorkloads(config, ctx);
    const plan = planRuns(config);
    const rows = runPlanned(config, [...plan.main, ...plan.sweep], workloads, ctx);
    const main = plan.main.map((r) => rows.get(keyOf(r))!);
    const osv = rows.get(runKey('osv', config.hostBacking[0], config.dramPolicies[0], config.vmDramMiB))!;
    const ucat = rows.get(runKey('ucat', 'thp', 'equal-share', config.vmDramMiB))!;
    const summary = summarize(config, osv, ucat);
    const sweep = sweepPoints(config, rows);
    const words = describeRun(config, workloads);
    return {
      experiment: 'ucat',
      title: this.title,
      seed: ctx.seed,
      quick: ctx.quick ?? false,
      config,
      summary: { ...summary, ...words },
      comparisons: ucatComparisons(config, { osv, ucat, rows: main, sweep, summary }),
      tables: ucatTables(config, main, sweep),
      series: ucatSeries(main, sweep),
    };
  },
};
