/**
 * The statistics a vCPU owns. Plain numeric fields and small typed arrays, updated in place on the
 * access path; gathered into a flat record at the end of a run (`snapshot`), and warm-up is excluded
 * by subtracting snapshots (ChampSim's roi_stats).
 */
import { startAsDoubles } from '../base/fields.ts';
import { PAGE_SIZE_NAMES } from '../base/units.ts';

export const MAX_TIERS = 4;

/** The cycle sums of `VcpuCounters` (see its constructor). */
const CYCLE_SUMS = ['translationCycles', 'walkCycles', 'dataCycles', 'faultCycles', 'flushCycles', 'switchCycles', 'writebackCycles'] as const;
/** The counts the WebAssembly access path hands over as doubles, from the vCPU's block (see its constructor). */
const MODULE_COUNTS = [
  'walkRefs',
  'walkRefsGuest',
  'walkRefsHost',
  'walkRefsL1d',
  'walkRefsL2',
  'walkRefsLlc',
  'pscHits',
  'pscMisses',
  'ntlbHits',
  'ntlbMisses',
  'l1TlbMisses',
  'l2TlbMisses',
  'walks',
  'dataL1dHits',
  'dataL2Hits',
  'dataLlcHits',
  'prefetchedLines',
] as const;

export class VcpuCounters {
  accesses = 0;
  loads = 0;
  stores = 0;
  /** L1 DTLB hits per page size of the entry that hit. */
  readonly l1TlbHits = new Float64Array(3);
  l1TlbMisses = 0;
  readonly l2TlbHits = new Float64Array(3);
  l2TlbMisses = 0;
  walks = 0;
  /** Page-walk memory references, all and per dimension. */
  walkRefs = 0;
  walkRefsGuest = 0;
  walkRefsHost = 0;
  /** Where walk references were served: L1D, L2, LLC, then memory per tier. */
  walkRefsL1d = 0;
  walkRefsL2 = 0;
  walkRefsLlc = 0;
  readonly walkRefsMem = new Float64Array(MAX_TIERS);
  pscHits = 0;
  pscMisses = 0;
  ntlbHits = 0;
  ntlbMisses = 0;
  /** Walks completed, by the page size of the translation they produced (after guest/host splintering). */
  readonly walksBySize = new Float64Array(3);
  /** Data-access lines and where they were served. */
  dataL1dHits = 0;
  dataL2Hits = 0;
  dataLlcHits = 0;
  readonly dataMem = new Float64Array(MAX_TIERS);
  /** Dirty lines written back from the LLC, per tier, and media bytes written (write amplification). */
  readonly writebacks = new Float64Array(MAX_TIERS);
  readonly mediaBytesWritten = new Float64Array(MAX_TIERS);
  /** Cycles the write-backs occupied the tiers' write bandwidth (part of dataCycles). */
  writebackCycles = 0;
  /** Data lines a detected stream covered (charged bandwidth, not latency). */
  prefetchedLines = 0;
  /** Times this vCPU was switched onto its core after another vCPU, their cost, and the flushes without VPID. */
  vcpuSwitches = 0;
  switchCycles = 0;
  switchFlushes = 0;
  guestFaults = 0;
  eptViolations = 0;
  flushPage = 0;
  flushVm = 0;
  flushAll = 0;
  /** Cycle account. A fault's cost is added to the translation that met it, so `translationCycles` includes `faultCycles`. */
  translationCycles = 0;
  walkCycles = 0;
  dataCycles = 0;
  /** The part of `translationCycles` spent in guest page faults and EPT violations. */
  faultCycles = 0;
  flushCycles = 0;

  constructor() {
    // The cycle sums pass 2^30 early in a run (a million walks or a few million data lines), where
    // V8 would change their fields from small integers to doubles: that change discards the
    // optimized code of every function that writes them (the whole walk and line path), in the
    // middle of the loop that made them hot.
    startAsDoubles(this, CYCLE_SUMS);
    // The counts a WebAssembly call reports are added from a Float64Array, as doubles: the first
    // walk turned those fields from small integers to doubles and gave the counters a new map. The
    // next vCPU's counters then had that map, the `stats` field of VCpu lost its one known map, and
    // every function that counts (the whole access path) was deoptimized at the start of the second
    // VM's run: a replay in a second VM of a process ran about 10 % slower than the third.
    startAsDoubles(this, MODULE_COUNTS);
  }

  /** All cycles the vCPU spent; faults are counted once, inside translation. */
  get cycles(): number {
    return this.translationCycles + this.dataCycles + this.flushCycles + this.switchCycles;
  }

  /** Flat record of every counter (names are stable: they appear in results). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) {
      if (typeof v === 'number') out[k] = v;
      else if (v instanceof Float64Array) {
        const names = v.length === 3 ? PAGE_SIZE_NAMES : Array.from({ length: v.length }, (_, i) => `tier${i}`);
        v.forEach((x, i) => (out[`${k}.${names[i]}`] = x));
      }
    }
    out.cycles = this.cycles;
    return out;
  }

  reset(): void {
    for (const [k, v] of Object.entries(this)) {
      if (typeof v === 'number') (this as unknown as Record<string, number>)[k] = 0;
      else if (v instanceof Float64Array) v.fill(0);
    }
  }
}

/** b - a for every counter: the statistics of the region between two snapshots. */
export function diffSnapshots(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b)) out[k] = b[k] - (a[k] ?? 0);
  return out;
}
