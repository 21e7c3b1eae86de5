/**
 * Host memory accounting over time. The counters themselves are owned by HostMemory (per tier) and
 * HostVm (per VM and tier); this module gathers them: `snapshot()` into a flat record for the
 * statistics tree, `sample(timeNs)` into time series (the simulation samples every simulated
 * second, never per access).
 *
 * Host series, one row per sample:   time_ns, then per tier t:
 *   t.free      free 4 KiB frames
 *   t.small     allocated 4 KiB blocks (data, tables, shared)
 *   t.huge2m    allocated 2 MiB blocks
 *   t.table     EPT table frames
 * VM series (when enabled), one row per live VM and tier per sample:
 *   time_ns, vm, tier, resident4k, resident2m, table, shared
 */
import { PageSize } from '../base/units.ts';
import type { HostMemory } from './frames.ts';
import type { HostVm } from './vm.ts';

/** A growable table of numbers: named columns, rows appended, stored row-major in one Float64Array. */
export class TimeSeries {
  private data = new Float64Array(256);
  rows = 0;
  readonly width: number;

  constructor(readonly columns: readonly string[]) {
    this.width = columns.length;
  }

  /** Append one row from `values` (length = width). */
  append(values: ArrayLike<number>): void {
    const w = this.width;
    if ((this.rows + 1) * w > this.data.length) {
      const bigger = new Float64Array(Math.max(this.data.length * 2, (this.rows + 1) * w));
      bigger.set(this.data);
      this.data = bigger;
    }
    for (let i = 0; i < w; i++) this.data[this.rows * w + i] = values[i];
    this.rows++;
  }

  get(row: number, column: number): number {
    return this.data[row * this.width + column];
  }

  /** One column as a fresh array. */
  column(name: string): Float64Array {
    const c = this.columns.indexOf(name);
    if (c < 0) throw new Error(`no column '${name}' (columns: ${this.columns.join(', ')})`);
    const out = new Float64Array(this.rows);
    for (let r = 0; r < this.rows; r++) out[r] = this.data[r * this.width + c];
    return out;
  }

  /** Rows as records, for CSV/JSON writers. */
  toRecords(): Record<string, number>[] {
    const out: Record<string, number>[] = [];
    for (let r = 0; r < this.rows; r++) {
      const rec: Record<string, number> = {};
      for (let c = 0; c < this.width; c++) rec[this.columns[c]] = this.data[r * this.width + c];
      out.push(rec);
    }
    return out;
  }
}

export class HostAccounting {
  readonly host: TimeSeries;
  readonly vm: TimeSeries | null;
  private readonly row: Float64Array;
  private readonly vmRow = new Float64Array(7);

  constructor(
    private readonly memory: HostMemory,
    private readonly vms: () => readonly (HostVm | null)[],
    perVm: boolean,
  ) {
    const cols = ['time_ns'];
    for (const t of memory.tiers) cols.push(`${t.name}.free`, `${t.name}.small`, `${t.name}.huge2m`, `${t.name}.table`);
    this.host = new TimeSeries(cols);
    this.row = new Float64Array(cols.length);
    this.vm = perVm ? new TimeSeries(['time_ns', 'vm', 'tier', 'resident4k', 'resident2m', 'table', 'shared']) : null;
  }

  /** Append one sample of every counter at simulated time `timeNs`. */
  sample(timeNs: number): void {
    const row = this.row;
    row[0] = timeNs;
    let i = 1;
    for (const t of this.memory.tiers) {
      row[i++] = t.freeFrames;
      row[i++] = t.allocatedBlocks[0];
      row[i++] = t.allocatedBlocks[1];
      row[i++] = t.tableFrames;
    }
    this.host.append(row);
    if (this.vm === null) return;
    const vr = this.vmRow;
    for (const v of this.vms()) {
      if (v === null || !v.isAlive) continue;
      const c = v.counters;
      for (let t = 0; t < this.memory.tiers.length; t++) {
        vr[0] = timeNs;
        vr[1] = v.id;
        vr[2] = t;
        vr[3] = c.resident4k[t];
        vr[4] = c.resident2m[t];
        vr[5] = c.tableFrames[t];
        vr[6] = c.sharedMapped[t];
        this.vm.append(vr);
      }
    }
  }

  /**
   * Host totals and sums over live VMs, flat, for the statistics tree. Names: `host.<tier>.<what>`
   * (frames unless the name says bytes) and `vms.<what>` (sums over VMs).
   */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    let used = 0;
    for (const t of this.memory.tiers) {
      const p = `host.${t.name}`;
      out[`${p}.frames`] = t.frameCount;
      out[`${p}.free`] = t.freeFrames;
      out[`${p}.allocated`] = t.allocatedFrames;
      out[`${p}.small`] = t.allocatedBlocks[0];
      out[`${p}.huge2m`] = t.allocatedBlocks[1];
      out[`${p}.huge1g`] = t.allocatedBlocks[2];
      out[`${p}.table`] = t.tableFrames;
      out[`${p}.failedAllocs`] = t.failedAllocs;
      out[`${p}.usedBytes`] = t.allocatedFrames * 4096;
      used += t.allocatedFrames * 4096;
    }
    out['host.usedBytes'] = used;
    out['host.simulatorBytes'] = this.memory.simulatorBytes();
    const sums: Record<string, number> = {
      live: 0,
      eptViolations: 0,
      spuriousViolations: 0,
      backed4k: 0,
      backed2m: 0,
      hugeFallbacks: 0,
      tierFallbacks: 0,
      cowBreaks: 0,
      splits: 0,
      tlbFlushes: 0,
      faultCycles: 0,
    };
    for (const v of this.vms()) {
      if (v === null || !v.isAlive) continue;
      const c = v.counters;
      sums.live++;
      sums.eptViolations += c.eptViolations;
      sums.spuriousViolations += c.spuriousViolations;
      sums.backed4k += c.backed4k;
      sums.backed2m += c.backed2m;
      sums.hugeFallbacks += c.hugeFallbacks;
      for (let t = 0; t < c.fallbacks.length; t++) sums.tierFallbacks += c.fallbacks[t];
      sums.cowBreaks += c.cowBreaks;
      sums.splits += c.splits;
      sums.tlbFlushes += c.tlbFlushes;
      sums.faultCycles += c.faultCycles;
    }
    for (const k of Object.keys(sums)) out[`vms.${k}`] = sums[k];
    return out;
  }
}

/** One VM's counters, flat: `<what>` and `<tier>.<what>`. */
export function vmSnapshot(vm: HostVm, memory: HostMemory): Record<string, number> {
  const c = vm.counters;
  const out: Record<string, number> = {
    eptViolations: c.eptViolations,
    spuriousViolations: c.spuriousViolations,
    backed4k: c.backed4k,
    backed2m: c.backed2m,
    hugeFallbacks: c.hugeFallbacks,
    cowBreaks: c.cowBreaks,
    splits: c.splits,
    tlbFlushes: c.tlbFlushes,
    faultCycles: c.faultCycles,
    // Leaves of the EPT itself: 2 MiB where a huge frame backs the range, 4 KiB otherwise.
    eptLeaves4k: vm.ept.leaves[PageSize.Size4K],
    eptLeaves2m: vm.ept.leaves[PageSize.Size2M],
  };
  for (const t of memory.tiers) {
    out[`${t.name}.resident4k`] = c.resident4k[t.id];
    out[`${t.name}.resident2m`] = c.resident2m[t.id];
    out[`${t.name}.table`] = c.tableFrames[t.id];
    out[`${t.name}.shared`] = c.sharedMapped[t.id];
    out[`${t.name}.fallbacks`] = c.fallbacks[t.id];
    out[`${t.name}.residentBytes`] = c.residentBytes(t.id);
  }
  return out;
}
