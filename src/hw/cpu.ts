/**
 * CPU presets: TLB geometry, paging-structure caches, nested TLB, data caches, clock and the cost of
 * TLB invalidations. Each preset says where its numbers come from; rows marked [verify] in
 * research/ucat.md §4.2 are medium confidence and say so here too.
 *
 * Paging-structure caches (PSC) hold non-leaf entries of levels 4, 3 and 2 (the entries that
 * point to the next table), per dimension: `guest` serves native walks and the guest dimension of
 * nested walks, `host` the EPT dimension. Vendors do not document their sizes; we use ChampSim's
 * PSCL4/3/2 defaults (1x4, 2x4, 4x8) as the simulator-standard proxy for every preset, and a
 * nested TLB of 32 entries (4-way) as an assumption in the spirit of Bhargava et al. ASPLOS'08.
 */
import { PageSize } from '../base/units.ts';

export interface TlbArrayConfig {
  entries: number;
  ways: number;
  /** Page sizes this array holds. A 1G translation where only 2M is held is stored as 2M ("smashed"). */
  sizes: PageSize[];
}

export interface CacheConfig {
  bytes: number;
  ways: number;
  /** Load-to-use latency in cycles. */
  latency: number;
}

/**
 * The last-level cache of the part. `per-core`: `bytes` is the slice per core and a host of C cores
 * has one LLC of C x bytes shared by all of them (Intel's mesh of slices; ChampSim's LLC_SET =
 * NUM_CPUS x 2048). `per-cluster`: `bytes` is the L3 of one cluster of `clusterCores` cores (an AMD
 * CCX or CCD), and each cluster has its own.
 */
export interface LlcConfig extends CacheConfig {
  scope: 'per-core' | 'per-cluster';
  clusterCores?: number;
}

export interface CpuPreset {
  name: string;
  clockGHz: number;
  /** First-level DTLB arrays (looked up in parallel). */
  l1Tlb: TlbArrayConfig[];
  /** Second-level (shared instruction/data) TLB arrays. */
  l2Tlb: TlbArrayConfig[];
  l1TlbLatency: number;
  l2TlbLatency: number;
  /** PSC entries for levels 4, 3, 2 as [entries, ways]. */
  psc: { l4: [number, number]; l3: [number, number]; l2: [number, number] };
  ntlb: [number, number];
  /** Private caches; null leaves them out (the issue makes them optional; the LLC is always modelled). */
  l1d: CacheConfig | null;
  l2: CacheConfig | null;
  /** Last-level cache (see LlcConfig for how it scales with the host's cores); null only in translation-only runs. */
  llc: LlcConfig | null;
  /**
   * Demand misses a core keeps in flight at once (L1D line-fill buffers / miss address buffers):
   * the limit of memory-level parallelism for independent misses and for a detected stream.
   */
  outstandingMisses: number;
  /** Streams the core's stream prefetcher tracks (0: no prefetcher). */
  prefetchStreams: number;
  /** Direct cost of invalidations, cycles (the refill misses that follow are simulated, not charged here). */
  invlpgCycles: number;
  flushVmCycles: number;
  flushAllCycles: number;
  /** Cost of switching a core from one vCPU to another (VM exit, host context switch, VM entry), cycles. */
  vcpuSwitchCycles: number;
  source: string;
}

const ALL = [PageSize.Size4K, PageSize.Size2M, PageSize.Size1G];
/**
 * The walker's caches of every preset: ChampSim's paging-structure caches and the nested TLB. The
 * WebAssembly walk has this shape compiled in (src/hw/wasm/translate.ts `D_PRESET_WALKER`); any
 * other shape runs there too, reading its geometry at each lookup.
 */
export const PRESET_PSC: CpuPreset['psc'] = { l4: [4, 4], l3: [8, 4], l2: [32, 8] };
export const PRESET_NTLB: CpuPreset['ntlb'] = [32, 4];

/**
 * Invalidation costs (all presets): INVLPG about 200 cycles, a full or per-VPID flush about 500
 * cycles of direct cost, after Amit et al., "Optimizing the TLB Shootdown Algorithm with Page Access
 * Tracking" (ATC'17) and "Don't shoot down TLB shootdowns!" (EuroSys'20), which report single
 * invalidations in the low hundreds of cycles and full flushes costing mostly through the misses
 * that follow. [assumption: order of magnitude, not a per-core measurement]
 */
const INVALIDATION = { invlpgCycles: 200, flushVmCycles: 500, flushAllCycles: 500 };

/**
 * Switching a core between the vCPU threads of two VMs: a VM exit, a host context switch and a VM
 * entry. About 2 us in all [assumption, order of magnitude]: a Linux thread context switch costs
 * 1-2 us directly (lmbench lat_ctx class figures; Li, Ding and Shen, "Quantifying the cost of
 * context switch", ExpCS 2007, measure a few us including cache effects), a VM exit/entry round
 * trip about a thousand cycles on recent Intel and AMD cores. The refill misses that follow are
 * simulated, not included. Converted at each preset's clock.
 */
const VCPU_SWITCH_MICROS = 2;
/**
 * Streams the prefetcher tracks at once. Intel's L2 streamer tracks up to 32 streams (Intel 64 and
 * IA-32 Architectures Optimization Reference Manual, "Data Prefetching"); AMD does not publish a
 * figure, so every preset uses 32 [assumption for the AMD presets; ChampSim's default L2C
 * prefetcher is off, we keep the streamer on for every preset].
 */
const PREFETCH_STREAMS = 32;

const switchCycles = (clockGHz: number) => Math.round(VCPU_SWITCH_MICROS * 1000 * clockGHz);

export const CPU_PRESETS: Record<string, CpuPreset> = {
  /**
   * AMD Zen 2 (Rome). L1 DTLB 64 entries fully associative, all sizes; L2 DTLB 2048 entries for
   * 4K/2M, 1G "smashed" into 2M (WikiChip from AMD SOG 17h). research/ucat.md lists the L2 as
   * 12-way, which does not divide 2048 (the array is skewed by page size); we model 16 ways.
   * Caches: 32 KiB 8-way L1D (4 cycles), 512 KiB 8-way L2 (12 cycles), 16 MiB 16-way L3 per CCX
   * of 4 cores (~39 cycles), AMD SOG 17h / 7-cpu.com Zen 2 (EPYC 7002: 16 MB L3 per CCX).
   * Outstanding L1D misses: 22 [verify: AMD SOG 17h, 7-cpu.com Zen 2 load/store unit].
   */
  zen2: {
    name: 'zen2',
    clockGHz: 2.25,
    l1Tlb: [{ entries: 64, ways: 64, sizes: ALL }],
    l2Tlb: [{ entries: 2048, ways: 16, sizes: [PageSize.Size4K, PageSize.Size2M] }],
    l1TlbLatency: 1,
    l2TlbLatency: 7,
    psc: PRESET_PSC,
    ntlb: PRESET_NTLB,
    l1d: { bytes: 32 * 1024, ways: 8, latency: 4 },
    l2: { bytes: 512 * 1024, ways: 8, latency: 12 },
    llc: { bytes: 16 * 1024 * 1024, ways: 16, latency: 39, scope: 'per-cluster', clusterCores: 4 },
    outstandingMisses: 22,
    prefetchStreams: PREFETCH_STREAMS,
    ...INVALIDATION,
    vcpuSwitchCycles: switchCycles(2.25),
    source: 'WikiChip Zen 2 (from AMD Software Optimization Guide for family 17h); 7-cpu.com Zen 2 latencies; PSC sizes: ChampSim defaults',
  },
  /**
   * AMD Zen 3 (Milan): L1 DTLB 64 fully assoc.; L2 DTLB 2048 (4K/2M) [verify: AMD SOG 19h pub.
   * 56665]. L1D 32 KiB 8-way, L2 512 KiB 8-way; L3 32 MiB 16-way per CCD of 8 cores (one unified
   * CCX per CCD since Zen 3), ~46 cycles. Outstanding L1D misses: 24 [verify: AMD SOG 19h].
   */
  zen3: {
    name: 'zen3',
    clockGHz: 2.45,
    l1Tlb: [{ entries: 64, ways: 64, sizes: ALL }],
    l2Tlb: [{ entries: 2048, ways: 16, sizes: [PageSize.Size4K, PageSize.Size2M] }],
    l1TlbLatency: 1,
    l2TlbLatency: 7,
    psc: PRESET_PSC,
    ntlb: PRESET_NTLB,
    l1d: { bytes: 32 * 1024, ways: 8, latency: 4 },
    l2: { bytes: 512 * 1024, ways: 8, latency: 12 },
    llc: { bytes: 32 * 1024 * 1024, ways: 16, latency: 46, scope: 'per-cluster', clusterCores: 8 },
    outstandingMisses: 24,
    prefetchStreams: PREFETCH_STREAMS,
    ...INVALIDATION,
    vcpuSwitchCycles: switchCycles(2.45),
    source: 'AMD Software Optimization Guide for family 19h (pub. 56665) [verify]; PSC sizes: ChampSim defaults',
  },
  /**
   * AMD Zen 4 (Genoa): L1 DTLB 72 fully assoc., all sizes; L2 DTLB 3072 entries 4K/2M/1G [verify:
   * AMD SOG 19h pub. 57647]. L1D 32 KiB 8-way; L2 1 MiB 8-way 14 cycles; L3 32 MiB 16-way per CCD
   * of 8 cores. Outstanding L1D misses: 24 [verify: AMD SOG 19h pub. 57647].
   */
  zen4: {
    name: 'zen4',
    clockGHz: 2.4,
    l1Tlb: [{ entries: 72, ways: 72, sizes: ALL }],
    l2Tlb: [{ entries: 3072, ways: 24, sizes: ALL }],
    l1TlbLatency: 1,
    l2TlbLatency: 7,
    psc: PRESET_PSC,
    ntlb: PRESET_NTLB,
    l1d: { bytes: 32 * 1024, ways: 8, latency: 4 },
    l2: { bytes: 1024 * 1024, ways: 8, latency: 14 },
    llc: { bytes: 32 * 1024 * 1024, ways: 16, latency: 50, scope: 'per-cluster', clusterCores: 8 },
    outstandingMisses: 24,
    prefetchStreams: PREFETCH_STREAMS,
    ...INVALIDATION,
    vcpuSwitchCycles: switchCycles(2.4),
    source: 'AMD Software Optimization Guide for family 19h (pub. 57647) [verify]; PSC sizes: ChampSim defaults',
  },
  /**
   * Intel Sunny Cove (Ice Lake-SP): load DTLB 64 4K entries 4-way, 32 2M entries 4-way, 8 1G fully
   * assoc.; STLB 2048 for 4K/2M plus 1024 for 4K/1G (modelled as 1G only) [verify: Intel
   * Optimization Reference Manual]. L1D 48 KiB 12-way 5 cycles; L2 1.25 MiB 20-way 14 cycles;
   * LLC 1.5 MiB 12-way per core, shared by all cores (Xeon Platinum 8380: 40 cores, 60 MB) ~ 50
   * cycles. Line-fill buffers: 12 [verify: Intel Optimization Reference Manual, Sunny Cove].
   */
  icelake: {
    name: 'icelake',
    clockGHz: 2.3,
    l1Tlb: [
      { entries: 64, ways: 4, sizes: [PageSize.Size4K] },
      { entries: 32, ways: 4, sizes: [PageSize.Size2M] },
      { entries: 8, ways: 8, sizes: [PageSize.Size1G] },
    ],
    l2Tlb: [
      { entries: 2048, ways: 16, sizes: [PageSize.Size4K, PageSize.Size2M] },
      { entries: 1024, ways: 8, sizes: [PageSize.Size1G] },
    ],
    l1TlbLatency: 1,
    l2TlbLatency: 9,
    psc: PRESET_PSC,
    ntlb: PRESET_NTLB,
    l1d: { bytes: 48 * 1024, ways: 12, latency: 5 },
    l2: { bytes: 1280 * 1024, ways: 20, latency: 14 },
    llc: { bytes: 1536 * 1024, ways: 12, latency: 50, scope: 'per-core' },
    outstandingMisses: 12,
    prefetchStreams: PREFETCH_STREAMS,
    ...INVALIDATION,
    vcpuSwitchCycles: switchCycles(2.3),
    source: 'Intel 64 and IA-32 Architectures Optimization Reference Manual, Sunny Cove [verify]; PSC sizes: ChampSim defaults',
  },
  /**
   * Intel Golden Cove (Sapphire Rapids): load DTLB 96 4K entries (6-way), 32 2M (4-way), 8 1G;
   * STLB 2048 4K/2M 16-way plus 1024 1G [verify: Intel Optimization Reference Manual]. L1D 48 KiB
   * 12-way 5 cycles; L2 2 MiB 16-way 16 cycles; LLC 1.875 MiB 15-way per core, shared by all
   * cores (Xeon Platinum 8480+: 56 cores, 105 MB) ~ 60 cycles. Line-fill buffers: 16 [verify:
   * Intel Optimization Reference Manual, Golden Cove].
   */
  sapphirerapids: {
    name: 'sapphirerapids',
    clockGHz: 2.0,
    l1Tlb: [
      { entries: 96, ways: 6, sizes: [PageSize.Size4K] },
      { entries: 32, ways: 4, sizes: [PageSize.Size2M] },
      { entries: 8, ways: 8, sizes: [PageSize.Size1G] },
    ],
    l2Tlb: [
      { entries: 2048, ways: 16, sizes: [PageSize.Size4K, PageSize.Size2M] },
      { entries: 1024, ways: 8, sizes: [PageSize.Size1G] },
    ],
    l1TlbLatency: 1,
    l2TlbLatency: 9,
    psc: PRESET_PSC,
    ntlb: PRESET_NTLB,
    l1d: { bytes: 48 * 1024, ways: 12, latency: 5 },
    l2: { bytes: 2 * 1024 * 1024, ways: 16, latency: 16 },
    llc: { bytes: 1920 * 1024, ways: 15, latency: 60, scope: 'per-core' },
    outstandingMisses: 16,
    prefetchStreams: PREFETCH_STREAMS,
    ...INVALIDATION,
    vcpuSwitchCycles: switchCycles(2.0),
    source: 'Intel 64 and IA-32 Architectures Optimization Reference Manual, Golden Cove [verify]; PSC sizes: ChampSim defaults',
  },
  /**
   * ChampSim's default configuration (champsim_config.json): DTLB 16 sets x 4 ways (1 cycle), STLB
   * 128 sets x 12 ways (8 cycles), PSCL4 1x4, PSCL3 2x4, PSCL2 4x8; L1D 64 sets x 12 ways (5
   * cycles, 16 MSHRs), L2C 1024 x 8 (10 cycles), LLC 2048 sets x 16 ways per core (LLC_SET =
   * NUM_CPUS * 2048; 20 cycles); 4 GHz. ChampSim uses one page size per build; we let its arrays
   * hold every size.
   */
  champsim: {
    name: 'champsim',
    clockGHz: 4.0,
    l1Tlb: [{ entries: 64, ways: 4, sizes: ALL }],
    l2Tlb: [{ entries: 1536, ways: 12, sizes: ALL }],
    l1TlbLatency: 1,
    l2TlbLatency: 8,
    psc: PRESET_PSC,
    ntlb: PRESET_NTLB,
    l1d: { bytes: 48 * 1024, ways: 12, latency: 5 },
    l2: { bytes: 512 * 1024, ways: 8, latency: 10 },
    llc: { bytes: 2 * 1024 * 1024, ways: 16, latency: 20, scope: 'per-core' },
    outstandingMisses: 16,
    prefetchStreams: PREFETCH_STREAMS,
    ...INVALIDATION,
    vcpuSwitchCycles: switchCycles(4.0),
    source: 'ChampSim champsim_config.json defaults (github.com/ChampSim/ChampSim)',
  },
};

/** LLC bytes one LLC holds on a host of `cores` cores, and how many cores share it (see LlcConfig). */
export function llcGeometry(llc: LlcConfig, cores: number): { bytes: number; coresPerLlc: number } {
  if (llc.scope === 'per-core') return { bytes: llc.bytes * cores, coresPerLlc: cores };
  return { bytes: llc.bytes, coresPerLlc: llc.clusterCores ?? 1 };
}

/** A preset without private L1D/L2 caches: every reference goes to the shared LLC (faster to simulate). */
export function withoutPrivateCaches(p: CpuPreset): CpuPreset {
  return { ...p, name: `${p.name}-llconly`, l1d: null, l2: null };
}

/**
 * A preset with no data-cache model at all: every walk reference and data line costs the latency of
 * its memory tier. For measuring translation alone (the structures a TLB-only simulator models);
 * experiments keep the caches.
 */
export function translationOnly(p: CpuPreset): CpuPreset {
  return { ...p, name: `${p.name}-translation`, l1d: null, l2: null, llc: null };
}

/**
 * A preset without paging-structure caches and without a nested TLB: every walk starts from the
 * root in both dimensions, the setting of Bhargava et al.'s (n+1)(m+1)-1 reference count.
 */
export function withoutTranslationCaches(p: CpuPreset): CpuPreset {
  return { ...p, name: `${p.name}-nopsc`, psc: { l4: [0, 1], l3: [0, 1], l2: [0, 1] }, ntlb: [0, 1] };
}

export function cpuPreset(name: string): CpuPreset {
  const p = CPU_PRESETS[name];
  if (!p) throw new Error(`unknown CPU preset '${name}' (known: ${Object.keys(CPU_PRESETS).join(', ')})`);
  return p;
}

/** Problems with a preset (empty when valid): geometry must divide evenly, sizes must be positive. */
export function validateCpuPreset(p: CpuPreset): string[] {
  const problems: string[] = [];
  const checkArray = (where: string, a: { entries: number; ways: number }) => {
    if (!(a.entries > 0 && a.ways > 0 && a.entries % a.ways === 0)) problems.push(`${where}: ${a.entries} entries do not divide into ${a.ways} ways`);
  };
  p.l1Tlb.forEach((a, i) => checkArray(`l1Tlb[${i}]`, a));
  p.l2Tlb.forEach((a, i) => checkArray(`l2Tlb[${i}]`, a));
  for (const lvl of ['l4', 'l3', 'l2'] as const) checkArray(`psc.${lvl}`, { entries: p.psc[lvl][0], ways: p.psc[lvl][1] });
  checkArray('ntlb', { entries: p.ntlb[0], ways: p.ntlb[1] });
  for (const c of ['l1d', 'l2', 'llc'] as const) {
    const cc = p[c];
    if (cc === null) continue;
    if (!(cc.bytes > 0 && (cc.bytes / 64) % cc.ways === 0)) problems.push(`${c}: ${cc.bytes} B do not divide into ${cc.ways}-way sets of 64 B`);
  }
  if (!(p.clockGHz > 0)) problems.push('clockGHz must be positive');
  if (!(Number.isInteger(p.prefetchStreams) && p.prefetchStreams >= 0)) problems.push('prefetchStreams must be a non-negative integer');
  if (!(Number.isInteger(p.outstandingMisses) && p.outstandingMisses >= 1)) problems.push('outstandingMisses must be a positive integer');
  if (p.llc?.scope === 'per-cluster' && !(Number.isInteger(p.llc.clusterCores) && (p.llc.clusterCores as number) >= 1)) problems.push('llc: a per-cluster LLC needs clusterCores >= 1');
  for (const s of [PageSize.Size4K, PageSize.Size2M, PageSize.Size1G]) {
    if (!p.l1Tlb.some((a) => a.sizes.includes(s)) && s !== PageSize.Size1G) problems.push(`no L1 TLB array holds page size ${s}`);
  }
  return problems;
}
