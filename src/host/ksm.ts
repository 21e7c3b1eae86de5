/**
 * KSM: kernel same-page merging of VM memory, modelled on Linux `mm/ksm.c` and
 * Documentation/admin-guide/mm/ksm.rst (research/dedup.md §4), stepped in simulated time.
 *
 * Contract (the sharing-engine seam, DESIGN.md): KSM acts on frames and mappings only, through
 * HostVm's `shareFrame` / `mapShared` / `splitHugeMapping`; every TLB flush it causes is a real
 * call on the VM (counted by the VM) and is also attributed to KSM here. It only looks at VMs
 * registered as mergeable (`madvise(MADV_MERGEABLE)` on the VMM's guest RAM), never at pool
 * (page-cache) frames, and never merges two pages whose fingerprints differ; with a `confirm`
 * hook it also compares bytes before a merge (image pages).
 *
 * ksmd. Wakes on the kernel's timer (see `nextWakeAfter`: `sleepMillisecs` in jiffies, plus the
 * timer wheel's one jiffy, counted from the tick in which the batch ended) and scans `pagesToScan`
 * present pages, continuing a cursor over the mm_slot list (VMs in registration order, a new VM
 * inserted just behind the cursor as `ksm_enter` does) and, inside a VM, over its guest-physical
 * pages in address order (VMA order). When the cursor wraps, a full scan ends: `full_scans`++, the
 * unstable tree is emptied. With no VM registered ksmd is idle, untimed, and the first VM to
 * register wakes it at once (`register`).
 *
 * Per page (`cmp_and_merge_page`):
 *   1. already a KSM page -> nothing to do;
 *   2. stable tree search by content; a hit with room (< max_page_sharing mappings) -> merge into it;
 *   3. checksum (= fingerprint) differs from the one stored at the last visit -> volatile, store, stop;
 *   4. use_zero_pages and zero content -> map the zero page;
 *   5. unstable tree search-or-insert; a hit -> both pages become one new KSM page, put into the
 *      stable tree (a new dup of a chain when the existing KSM pages are full).
 * Merge mechanics: the page that becomes the KSM page is write-protected (`write_protect_page`,
 * one ptep_clear_flush when it was writable); a page merged into a KSM page is write-protected and
 * then has its mapping replaced (`replace_page`): two flushes, the EPT entry zapped through the MMU
 * notifier, its old frame freed. A 2 MiB mapping is split first (one more flush). A later write
 * takes the COW break in HostVm (new private frame, one flush, counted at the VM).
 *
 * Trees. Linux keeps both trees as red-black trees sorted by memcmp of page contents; a lookup finds
 * the node with equal content. Here contents are fingerprints, so a Map keyed by fingerprint is the
 * same lookup. Unstable-tree entries are re-validated on a hit (the page may have changed since it
 * was inserted, as in Linux, where the memcmp on the current content decides).
 *
 * Per-page state (Linux's `rmap_item`, 64 B each) lives in typed arrays per VM indexed by
 * guest-physical page: stored checksum, state bits, smart-scan age and remaining skips.
 */
import { invariant } from '../base/assert.ts';
import { UserError } from '../base/errors.ts';
import { NumberTable } from '../base/number-table.ts';
import { HOST_CONSTANTS, type HostMemory } from './frames.ts';
import type { HostVm } from './vm.ts';

// Module-local copies of constants (see HOST_CONSTANTS).
const { PAGE_4K, ZERO_FINGERPRINT, SIZE_4K, FRAME_ALLOCATED, FRAME_KSM, FRAME_POOL, FRAME_READONLY } = HOST_CONSTANTS;

export interface KsmParams {
  /** Pages scanned per wake-up (sysfs pages_to_scan). */
  pagesToScan: number;
  /** Sleep between wake-ups, ms (sysfs sleep_millisecs). */
  sleepMillisecs: number;
  /** CONFIG_HZ of the host kernel: ksmd's sleep is a timer counted in jiffies of 1/hz s. */
  hz: number;
  /** Scheduling delay from ksmd's timer firing to ksmd running, ns. */
  wakeLatencyNs: number;
  /** ksmd CPU time per scanned page, ns. */
  scanCostNs: number;
  /** Maximum mappings of one KSM page before a new dup is started (sysfs max_page_sharing). */
  maxPageSharing: number;
  /** Map zero-filled pages to the zero page instead of a KSM page (sysfs use_zero_pages). */
  useZeroPages: boolean;
  /** Skip pages that repeatedly failed to merge (sysfs smart_scan, Linux 6.7). */
  smartScan: boolean;
  /** 'none' or 'scan-time' (sysfs advisor_mode, Linux 6.8). */
  advisorMode: 'none' | 'scan-time';
  /** Target duration of a full scan for the advisor, s. */
  advisorTargetScanTimeSec: number;
  advisorMinPagesToScan: number;
  advisorMaxPagesToScan: number;
  /** Maximum share of one CPU the advisor may give ksmd, percent. */
  advisorMaxCpu: number;
  /** How often a chain's lookup walks all its dups to prune stale ones, ms (sysfs stable_node_chains_prune_millisecs). */
  stableNodeChainsPruneMillisecs: number;
}

/**
 * Linux defaults (Documentation/admin-guide/mm/ksm.rst; research/dedup.md §4), the configuration
 * the SoCC'22 scripts used (dedup.md §1.6), and figures of this machine (docs/ksm.md, "Parameters
 * and sources"): CONFIG_HZ=250 (its kernel's configuration, also Debian's default); ksmd runs
 * 6 µs (median) after its timer fires (sched_wakeup to sched_switch); ksmd's CPU time per
 * scanned page at 100 pages per wake on FaaS guests, 1.8 µs (median of 15 runs of tlb-flushes'
 * quick setting, 1.5-2.3 µs; 2.4-2.8 µs in dedup-faas' with 24 VMs; docs/realhost.md; about 3 µs
 * on 1 GiB of fresh pages at 1000-10000 per wake, hostcheck.md §2).
 */
export const KSM_DEFAULTS: Readonly<KsmParams> = {
  pagesToScan: 100,
  sleepMillisecs: 20,
  hz: 250,
  wakeLatencyNs: 6_000,
  scanCostNs: 1800,
  maxPageSharing: 256,
  useZeroPages: false,
  smartScan: false,
  advisorMode: 'none',
  advisorTargetScanTimeSec: 200,
  advisorMinPagesToScan: 500,
  advisorMaxPagesToScan: 30000,
  advisorMaxCpu: 70,
  stableNodeChainsPruneMillisecs: 2000,
};

/** Bytes of one rmap_item on 64-bit Linux (general_profit subtracts them). */
export const RMAP_ITEM_BYTES = 64;
/** Refcounts are 16-bit per frame: the zero page starts a new frame past this many mappings. */
const ZERO_PAGE_MAX_MAPPINGS = 65000;

/** State bits per guest page. */
const enum Rm {
  /** An rmap_item exists. */
  Item = 1,
  /** A checksum was stored. */
  Checksum = 2,
  /** Inserted in the unstable tree (counted in pages_unshared until revisited). */
  Unstable = 4,
  /** Mapped to a KSM page (stable tree) or the zero page. */
  Stable = 8,
  Zero = 16,
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_U8 = new Uint8Array(0);

/** One mergeable VM (Linux mm_slot) and its rmap items. */
class MmSlot {
  readonly regStart: Float64Array;
  readonly regFirst: Float64Array;
  readonly pages: number;
  /**
   * Per-page state for pages [0, covered): no page at or above `covered` has been visited, so none
   * holds an item. The arrays grow (`cover`) to the highest page visited: a VM's backed pages sit
   * low in its guest memory, and most of a 16 MiB FaaS VM is never backed.
   */
  checksum = EMPTY_F64;
  state = EMPTY_U8;
  age = EMPTY_U8;
  skips = EMPTY_U8;
  covered = 0;
  items = 0;
  dead = false;
  constructor(readonly vm: HostVm) {
    const n = vm.regions.length;
    this.regStart = new Float64Array(n);
    this.regFirst = new Float64Array(n + 1);
    let pages = 0;
    for (let i = 0; i < n; i++) {
      this.regStart[i] = vm.regions[i].gpaStart;
      this.regFirst[i] = pages;
      pages += vm.regions[i].bytes / PAGE_4K;
    }
    this.regFirst[n] = pages;
    this.pages = pages;
  }
  /** Grow the per-page arrays to cover page `idx` (at least doubling, at least 512 pages, at most all). */
  cover(idx: number): void {
    if (idx < this.covered) return;
    let n = Math.max(512, 2 * this.covered);
    while (n <= idx) n *= 2;
    n = Math.min(n, this.pages);
    // One buffer for the four arrays: a VM's rmap state is one allocation, not four.
    const buf = new ArrayBuffer(n * 11);
    const checksum = new Float64Array(buf, 0, n);
    const state = new Uint8Array(buf, n * 8, n);
    const age = new Uint8Array(buf, n * 9, n);
    const skips = new Uint8Array(buf, n * 10, n);
    checksum.set(this.checksum);
    state.set(this.state);
    age.set(this.age);
    skips.set(this.skips);
    this.checksum = checksum;
    this.state = state;
    this.age = age;
    this.skips = skips;
    this.covered = n;
  }
  gpaOf(index: number): number {
    let r = 0;
    while (index >= this.regFirst[r + 1]) r++;
    return this.regStart[r] + (index - this.regFirst[r]) * PAGE_4K;
  }
  /**
   * Index of the first page at or after `index` that the VM backs, or the end of `index`'s region
   * (the next region's first index): the pages in between have no frame (`HostVm.nextBackedGpa`).
   */
  nextBackedIndex(index: number): number {
    let r = 0;
    while (index >= this.regFirst[r + 1]) r++;
    const start = this.regStart[r];
    const first = this.regFirst[r];
    const gpa = this.vm.nextBackedGpa(start + (index - first) * PAGE_4K, start + (this.regFirst[r + 1] - first) * PAGE_4K);
    return first + (gpa - start) / PAGE_4K;
  }
  indexOf(gpa: number): number {
    for (let r = 0; r < this.regStart.length; r++) {
      const off = gpa - this.regStart[r];
      const idx = Math.floor(off / PAGE_4K);
      if (off >= 0 && idx < this.regFirst[r + 1] - this.regFirst[r]) return this.regFirst[r] + idx;
    }
    return -1;
  }
}

/**
 * A stable-tree node: one KSM frame, or a chain of dups once max_page_sharing was reached
 * (Linux `stable_node_chain`). The newest dup is last, standing for the head of Linux's hlist,
 * where `stable_node_chain_add_dup` puts a new dup and where a lookup starts.
 */
class StableNode {
  readonly dups: number[];
  /** Simulated time from which the next lookup walks the whole chain (chain_prune_time). */
  pruneAtNs = 0;
  /**
   * The last lookup walked the whole chain, every dup was live and none had room, and since then
   * no dup was added and no dup lost a mapping or died (see `Ksm.nodeOfFrame`): a lookup
   * would walk the same full dups again and find nothing, so it need not walk them.
   */
  allFull = false;
  constructor(
    readonly fp: number,
    frame: number,
  ) {
    this.dups = [frame];
  }
}

/**
 * The stable tree: fingerprint -> node. A NumberTable of indexes into an array of nodes rather than
 * a Map: a Map boxes every fingerprint (a double above 2^31) on every lookup, and the scan looks
 * up the stable tree for every page it visits.
 */
class StableTree {
  private readonly index = new NumberTable();
  private readonly nodes: (StableNode | null)[] = [];
  private readonly freeSlots: number[] = [];

  get(fp: number): StableNode | undefined {
    const i = this.index.get(fp);
    return i < 0 ? undefined : this.nodes[i]!;
  }

  /** Enter `node` under its fingerprint (which has no node yet). */
  add(node: StableNode): void {
    const i = this.freeSlots.pop() ?? this.nodes.length;
    this.nodes[i] = node;
    this.index.set(node.fp, i);
  }

  delete(fp: number): void {
    const i = this.index.get(fp);
    if (i < 0) return;
    this.index.delete(fp);
    this.nodes[i] = null;
    this.freeSlots.push(i);
  }

  /** Every node, in no particular order. */
  forEach(visit: (node: StableNode) => void): void {
    for (const n of this.nodes) if (n !== null) visit(n);
  }
}

/** The sysfs counters (/sys/kernel/mm/ksm) plus what the model attributes to ksmd. */
export interface KsmCounters {
  pagesShared: number;
  pagesSharing: number;
  pagesUnshared: number;
  pagesVolatile: number;
  fullScans: number;
  pagesScanned: number;
  pagesSkipped: number;
  stableNodeChains: number;
  stableNodeDups: number;
  ksmZeroPages: number;
  rmapItems: number;
  /** (pages_sharing + ksm_zero_pages) * 4096 - rmap_items * 64, bytes. */
  generalProfit: number;
  /** Merges done (pages mapped to a KSM page or the zero page). */
  merges: number;
  /** TLB flushes issued by ksmd (write_protect_page, replace_page, THP splits). */
  tlbFlushes: number;
  /** Huge mappings split before a merge. */
  hugeSplits: number;
  /** Merge candidates whose bytes were compared, and those that differed. */
  byteConfirms: number;
  byteMismatches: number;
  /** ksmd CPU time, ns. */
  cpuNs: number;
  /** pages_to_scan now (the advisor changes it). */
  pagesToScan: number;
}

/** What ksmd has done (the counters KsmCounters adds to the sysfs ones), all zero. */
export type KsmdWork = Pick<KsmCounters, 'fullScans' | 'pagesScanned' | 'pagesSkipped' | 'merges' | 'tlbFlushes' | 'hugeSplits' | 'byteConfirms' | 'byteMismatches' | 'cpuNs'>;

export function ksmdWorkZero(): KsmdWork {
  return { fullScans: 0, pagesScanned: 0, pagesSkipped: 0, merges: 0, tlbFlushes: 0, hugeSplits: 0, byteConfirms: 0, byteMismatches: 0, cpuNs: 0 };
}

/** Optional byte comparison before a merge: true when the two pages hold the same bytes (or bytes are unknown). */
export type KsmConfirm = (vmA: HostVm, gpaA: number, vmB: HostVm, gpaB: number) => boolean;

export function resolveKsmParams(overrides: Partial<KsmParams> = {}): KsmParams {
  const p = { ...KSM_DEFAULTS, ...overrides };
  const intMin = (k: keyof KsmParams, min: number): void => {
    const v = p[k] as number;
    if (!Number.isInteger(v) || v < min) throw new UserError(`ksm.${k}: must be an integer >= ${min}, got ${String(v)}`);
  };
  intMin('pagesToScan', 1);
  intMin('sleepMillisecs', 0);
  intMin('maxPageSharing', 2);
  intMin('advisorMinPagesToScan', 1);
  intMin('advisorMaxPagesToScan', 1);
  intMin('stableNodeChainsPruneMillisecs', 0);
  intMin('hz', 1);
  if (!(p.wakeLatencyNs >= 0) || !(p.scanCostNs >= 0)) throw new UserError('ksm.wakeLatencyNs and ksm.scanCostNs must be non-negative');
  if (p.advisorMode !== 'none' && p.advisorMode !== 'scan-time') throw new UserError(`ksm.advisorMode: 'none' or 'scan-time', got '${String(p.advisorMode)}'`);
  if (!(p.advisorTargetScanTimeSec > 0) || !(p.advisorMaxCpu > 0 && p.advisorMaxCpu <= 100)) throw new UserError('ksm.advisorTargetScanTimeSec must be positive and advisorMaxCpu in (0, 100]');
  return p;
}

export class Ksm {
  readonly params: KsmParams;
  private readonly slots: MmSlot[] = [];
  private readonly slotOfVm = new Map<number, MmSlot>();
  /** Cursor: slot index and page index in it. */
  private curSlot = 0;
  private curPage = 0;
  /** The cursor is on the list head (no slot being scanned): true at the start and after each full scan. */
  private atHead = true;
  /** Stable tree: fingerprint -> KSM frame or chain of dups. */
  private readonly stable = new StableTree();
  /**
   * The chain each KSM frame was added to. HostMemory reports every KSM frame that loses a
   * mapping or is freed (the only ways a full, live dup gains room or dies), and the chain of
   * such a frame loses its `allFull` mark. An entry left by a frame that died and was reused
   * costs that chain at most one needless full walk.
   */
  private readonly nodeOfFrame = new Map<number, StableNode>();
  /** Chains marked `allFull` now (none: a reported frame needs no lookup). */
  private fullChains = 0;
  /** Unstable tree: fingerprint -> vmId * 2^32 + page index; emptied at each full scan. */
  private readonly unstable = new NumberTable();
  private zeroFrames: number[] = [];
  private nextWakeNs = 0;
  /** No VM registered at ksmd's last wake: it waits, untimed, for the first to register. */
  private idle = true;
  private scanStartNs = 0;
  private scanCpuNs = 0;
  private ewmaScanNs = 0;
  private pagesToScan: number;
  private unshared = 0;
  private rmapItems = 0;
  /** Guest pages of all registered VMs (bounds a batch's walk). */
  private totalPages = 0;
  private readonly c = ksmdWorkZero();
  private nowNs = 0;

  constructor(
    private readonly memory: HostMemory,
    params: Partial<KsmParams> = {},
    private readonly confirm: KsmConfirm | null = null,
  ) {
    this.params = resolveKsmParams(params);
    this.pagesToScan = this.params.pagesToScan;
    memory.ksmFrameObservers.push((frame) => this.frameChanged(frame));
  }

  /** A KSM frame lost a mapping or was freed: its chain, if marked full, may have room again. */
  private frameChanged(frame: number): void {
    if (this.fullChains === 0) return;
    const node = this.nodeOfFrame.get(frame);
    if (node !== undefined && node.allFull) this.setAllFull(node, false);
  }

  private setAllFull(node: StableNode, full: boolean): void {
    if (node.allFull === full) return;
    node.allFull = full;
    this.fullChains += full ? 1 : -1;
  }

  /**
   * madvise(MADV_MERGEABLE) over the VM's guest RAM at `nowNs`: its mm_slot goes just behind the
   * cursor. An idle ksmd (no VM registered) runs its next batch at once: `__ksm_enter` wakes it
   * when it adds the first mm (mm/ksm.c, Linux 6.18; ksmd_should_run() is false with an empty
   * list, so ksm_scan_thread waits on ksm_thread_wait without a timeout).
   */
  register(vm: HostVm, nowNs = this.nowNs): void {
    invariant(!this.slotOfVm.has(vm.id), `VM ${vm.id} is already mergeable`);
    const slot = new MmSlot(vm);
    this.slotOfVm.set(vm.id, slot);
    this.totalPages += slot.pages;
    if (this.idle) {
      this.idle = false;
      this.nextWakeNs = Math.max(nowNs, this.nowNs);
    }
    // Between full scans the cursor is on the list head, so "just behind the cursor" is the tail.
    if (this.atHead || this.slots.length === 0) {
      this.slots.push(slot);
      return;
    }
    this.slots.splice(this.curSlot, 0, slot);
    this.curSlot++;
  }

  /** The VM exits (or MADV_UNMERGEABLE without unmerging): its rmap items go away. Call before destroying it. */
  unregister(vm: HostVm): void {
    const slot = this.slotOfVm.get(vm.id);
    if (!slot) return;
    this.slotOfVm.delete(vm.id);
    this.totalPages -= slot.pages;
    for (let i = 0; i < slot.covered; i++) if (slot.state[i] & Rm.Unstable) this.unshared--;
    this.rmapItems -= slot.items;
    slot.dead = true;
    const wasScanning = !this.atHead;
    const at = this.slots.indexOf(slot);
    this.slots.splice(at, 1);
    if (at < this.curSlot) this.curSlot--;
    else if (at === this.curSlot) this.curPage = 0;
    if (this.curSlot >= this.slots.length) {
      this.curSlot = 0;
      this.curPage = 0;
      if (wasScanning) {
        this.atHead = true;
        this.endFullScan();
      }
    }
  }

  /** Full scans completed (the sysfs counter, without recounting the others as `counters` does). */
  get fullScans(): number {
    return this.c.fullScans;
  }

  get simulatedNs(): number {
    return this.nowNs;
  }

  /** Run ksmd up to simulated time `toNs`. */
  advance(toNs: number): void {
    while (this.nextWakeNs <= toNs) {
      // Nothing registered: ksmd does not scan and waits, untimed, for a VM to register.
      if (this.slots.length === 0) {
        this.idle = true;
        break;
      }
      this.nowNs = this.nextWakeNs;
      const scanned = this.scanBatch(this.pagesToScan);
      const cpu = scanned * this.params.scanCostNs;
      this.c.cpuNs += cpu;
      this.scanCpuNs += cpu;
      this.nextWakeNs = this.nextWakeAfter(this.nowNs + cpu);
    }
    this.nowNs = Math.max(this.nowNs, toNs);
  }

  /**
   * When ksmd runs again after going to sleep at `sleepAtNs`. ksm_scan_thread sleeps with
   * wait_event_freezable_timeout(..., msecs_to_jiffies(sleep_millisecs)) (mm/ksm.c, Linux 6.18):
   * whole jiffies, rounded up. The timer wheel fires a timer of its first level one jiffy after
   * its expiry, so that it never fires early (kernel/time/timer.c calc_index,
   * `(expires >> LVL_SHIFT(lvl)) + 1` in Linux 6.18), on a tick. So ksmd wakes on the tick
   * sleep + 1 jiffies after the one in which it went to sleep: 6 jiffies, 24 ms, at HZ=250 and
   * 20 ms, however long the batch took as long as it ended within its tick (measured here: 24.0
   * ms median, docs/realhost.md). A sleep of 0 does not sleep. Not modelled: a wake one tick later
   * when the timer's CPU takes its tick before the CPU that advances jiffies (a race between CPUs'
   * ticks, measured on this machine in docs/realhost.md).
   */
  private nextWakeAfter(sleepAtNs: number): number {
    const p = this.params;
    const jiffies = Math.ceil((p.sleepMillisecs * p.hz) / 1000);
    if (jiffies === 0) return sleepAtNs + p.wakeLatencyNs;
    const tickNs = 1e9 / p.hz;
    const tick = Math.floor(sleepAtNs / tickNs + 1e-9);
    return (tick + jiffies + 1) * tickNs + p.wakeLatencyNs;
  }

  /** Scan up to `budget` present pages; returns the number scanned. */
  private scanBatch(budget: number): number {
    let scanned = 0;
    // Bound the walk: at most one full pass over all slots without finding a present page.
    const total = this.totalPages;
    let visited = 0;
    while (scanned < budget && this.slots.length > 0 && visited <= total) {
      if (this.atHead) {
        // Linux first drains every CPU's LRU cache here (lru_add_drain_all), with the cursor still
        // on the list head: a wait on other CPUs' scheduling that takes no time in the model
        // (docs/ksm.md, "What is simplified").
        this.atHead = false;
        this.curSlot = 0;
        this.curPage = 0;
      }
      const slot = this.slots[this.curSlot];
      if (this.curPage >= slot.pages) {
        this.curPage = 0;
        this.curSlot++;
        if (this.curSlot >= this.slots.length) {
          // The end of a full scan ends the batch (scan_get_next_rmap_item returns NULL).
          this.curSlot = 0;
          this.atHead = true;
          this.endFullScan();
          break;
        }
        continue;
      }
      // Unbacked pages count as visited and only lose their rmap items: step over a run of them at
      // once, as far as the bound on visits lets the page-by-page walk go. (A page with a frame
      // needs no search: the VM's frame lookup usually answers from its remembered leaf table.)
      const backed = slot.vm.frameOf(slot.gpaOf(this.curPage)) >= 0 ? this.curPage : slot.nextBackedIndex(this.curPage);
      if (backed > this.curPage) {
        const n = Math.min(backed - this.curPage, total - visited + 1);
        if (slot.items > 0) this.dropItems(slot, this.curPage, this.curPage + n);
        this.curPage += n;
        visited += n;
        continue;
      }
      const idx = this.curPage++;
      visited++;
      const r = this.visit(slot, idx);
      if (r > 0) scanned++;
    }
    this.c.pagesScanned += scanned;
    return scanned;
  }

  private endFullScan(): void {
    this.c.fullScans++;
    this.unstable.clear();
    const scanNs = this.nowNs - this.scanStartNs;
    if (this.params.advisorMode === 'scan-time' && scanNs > 0) this.advise(scanNs);
    this.scanStartNs = this.nowNs;
    this.scanCpuNs = 0;
  }

  /**
   * Advisor, scan-time mode: after each full scan, scale pages_to_scan so a full scan takes the
   * target time, using an EWMA of the scan time (weight 0.3 for the newest scan), within the
   * min/max bounds and the CPU cap (Linux 6.8 `scan_time_advisor`, simplified: see docs/ksm.md).
   */
  private advise(scanNs: number): void {
    const p = this.params;
    this.ewmaScanNs = this.ewmaScanNs === 0 ? scanNs : 0.3 * scanNs + 0.7 * this.ewmaScanNs;
    let pts = Math.round((this.pagesToScan * this.ewmaScanNs) / (p.advisorTargetScanTimeSec * 1e9));
    const periodNs = this.nextWakeAfter(0);
    // CPU share of a batch of n pages: n*c / (period + n*c) <= maxCpu  ->  n <= maxCpu*period / (c*(1-maxCpu)).
    const f = p.advisorMaxCpu / 100;
    const cpuCap = f >= 1 || p.scanCostNs === 0 ? Infinity : Math.floor((f * periodNs) / (p.scanCostNs * (1 - f)));
    pts = Math.min(pts, cpuCap, p.advisorMaxPagesToScan);
    this.pagesToScan = Math.max(p.advisorMinPagesToScan, pts);
  }

  /** One guest page at the cursor. Returns 1 when it counted as scanned (present, not skipped). */
  private visit(slot: MmSlot, idx: number): number {
    const vm = slot.vm;
    const gpa = slot.gpaOf(idx);
    const frame = vm.frameOf(gpa);
    if (frame < 0) {
      if (idx < slot.covered && slot.state[idx] & Rm.Item) this.dropItem(slot, idx);
      return 0;
    }
    const mem = this.memory;
    const fl = mem.flags(frame);
    // Page cache (pool) pages are never KSM's: only anonymous memory is merged.
    if (fl & FRAME_POOL) return 0;
    slot.cover(idx);
    const st = slot.state;
    if (!(st[idx] & Rm.Item)) {
      st[idx] = Rm.Item;
      slot.items++;
      this.rmapItems++;
      slot.age[idx] = 0;
      slot.skips[idx] = 0;
    }
    if (st[idx] & Rm.Unstable) {
      st[idx] &= ~Rm.Unstable;
      this.unshared--;
    }
    if (fl & FRAME_KSM && mem.owner(frame) === -1) return 1; // already merged
    st[idx] &= ~(Rm.Stable | Rm.Zero);
    if (this.params.smartScan && this.shouldSkip(slot, idx)) {
      this.c.pagesSkipped++;
      return 0;
    }
    this.cmpAndMerge(slot, idx, gpa, frame);
    return 1;
  }

  /** Drop the rmap items of pages [from, to) of `slot`, which are all unbacked. */
  private dropItems(slot: MmSlot, from: number, to: number): void {
    const st = slot.state;
    const end = Math.min(to, slot.covered);
    for (let i = from; i < end; i++) if (st[i] & Rm.Item) this.dropItem(slot, i);
  }

  private dropItem(slot: MmSlot, idx: number): void {
    if (slot.state[idx] & Rm.Unstable) this.unshared--;
    slot.state[idx] = 0;
    slot.items--;
    this.rmapItems--;
  }

  /** smart_scan (Linux 6.7 `should_skip_rmap_item`): after 3 failed visits, skip 1, 2, 4, then 8 scans. */
  private shouldSkip(slot: MmSlot, idx: number): boolean {
    const age = slot.age[idx];
    if (age !== 255) slot.age[idx] = age + 1;
    if (age < 3) return false;
    if (slot.skips[idx] > 0) {
      slot.skips[idx]--;
      return true;
    }
    slot.skips[idx] = age <= 3 ? 1 : age <= 5 ? 2 : age <= 8 ? 4 : 8;
    return false;
  }

  private cmpAndMerge(slot: MmSlot, idx: number, gpa: number, frame: number): void {
    const mem = this.memory;
    const vm = slot.vm;
    const fp = mem.fingerprint(frame);
    // 1. Stable tree.
    const kframe = this.stableSearch(fp);
    if (kframe >= 0) {
      this.mergeInto(vm, gpa, kframe);
      slot.state[idx] |= Rm.Stable;
      slot.age[idx] = 0;
      return;
    }
    // 2. Checksum: changed since the last visit -> volatile.
    const st = slot.state;
    if (!(st[idx] & Rm.Checksum) || slot.checksum[idx] !== fp) {
      slot.checksum[idx] = fp;
      st[idx] |= Rm.Checksum;
      return;
    }
    // 3. Zero pages.
    if (this.params.useZeroPages && fp === ZERO_FINGERPRINT) {
      this.mergeInto(vm, gpa, this.zeroFrame());
      st[idx] |= Rm.Zero;
      slot.age[idx] = 0;
      return;
    }
    // 4. Unstable tree search or insert.
    const hit = this.unstable.get(fp);
    if (hit >= 0) {
      const ovmId = Math.floor(hit / 2 ** 32);
      const oidx = hit % 2 ** 32;
      const oslot = this.slotOfVm.get(ovmId);
      if (oslot && !(oslot === slot && oidx === idx)) {
        const ogpa = oslot.gpaOf(oidx);
        const of = oslot.vm.frameOf(ogpa);
        if (of >= 0 && mem.owner(of) === ovmId && mem.fingerprint(of) === fp && this.confirmed(oslot.vm, ogpa, vm, gpa)) {
          // The tree page becomes the KSM page (write-protected in place), this page is merged into it.
          const k = this.makeKsmPage(oslot.vm, ogpa);
          this.stableInsert(fp, k);
          if (oslot.state[oidx] & Rm.Unstable) {
            oslot.state[oidx] &= ~Rm.Unstable;
            this.unshared--;
          }
          oslot.state[oidx] |= Rm.Stable;
          oslot.age[oidx] = 0;
          this.mergeInto(vm, gpa, k);
          st[idx] |= Rm.Stable;
          slot.age[idx] = 0;
          this.unstable.delete(fp);
          return;
        }
      }
    }
    this.unstable.set(fp, slot.vm.id * 2 ** 32 + idx);
    st[idx] |= Rm.Unstable;
    this.unshared++;
  }

  private confirmed(vmA: HostVm, gpaA: number, vmB: HostVm, gpaB: number): boolean {
    if (this.confirm === null) return true;
    this.c.byteConfirms++;
    if (this.confirm(vmA, gpaA, vmB, gpaB)) return true;
    this.c.byteMismatches++;
    return false;
  }

  /**
   * A live KSM frame for `fp` with room for one more mapping, or -1 (Linux `stable_node_dup`).
   * The walk starts at the newest dup and stops at the first one with room, so a chain of
   * thousands of full zero-page dups costs one step per lookup, not one per dup; only once per
   * `stableNodeChainsPruneMillisecs` does a lookup walk the whole chain and prefer the fullest dup
   * with room (packing sharers, as Linux does when it prunes). Dead dups met on the way are
   * dropped (get_ksm_page finding a stale node removes it).
   */
  private stableSearch(fp: number): number {
    const node = this.stable.get(fp);
    if (node === undefined) return -1;
    const dups = node.dups;
    const mem = this.memory;
    const max = this.params.maxPageSharing;
    const prune = this.nowNs >= node.pruneAtNs;
    if (prune) node.pruneAtNs = this.nowNs + this.params.stableNodeChainsPruneMillisecs * 1e6;
    if (node.allFull) return -1;
    let found = -1;
    let foundAt = -1;
    let foundRefs = -1;
    for (let i = dups.length - 1; i >= 0; i--) {
      const f = dups[i];
      const refs = mem.liveSharedRefcount(f, FRAME_KSM, fp);
      if (refs < 0) {
        dups.splice(i, 1);
        if (this.nodeOfFrame.get(f) === node) this.nodeOfFrame.delete(f);
        if (foundAt > i) foundAt--;
        continue;
      }
      if (refs < max && refs > foundRefs) {
        found = f;
        foundAt = i;
        foundRefs = refs;
        if (!prune) break;
      }
    }
    if (dups.length === 0) {
      this.stable.delete(fp);
      return -1;
    }
    // Nothing found: the walk covered the whole chain and left only live, full dups.
    if (found < 0) this.setAllFull(node, true);
    // Move the dup found to the head so the next lookup finds it first (Linux does the same when it still has room after this merge).
    if (found >= 0 && foundAt !== dups.length - 1 && foundRefs + 1 < max) {
      dups.splice(foundAt, 1);
      dups.push(found);
    }
    return found;
  }

  private liveKsm(f: number, fp: number): boolean {
    return this.memory.liveSharedRefcount(f, FRAME_KSM, fp) >= 0;
  }

  /** A new KSM page for `fp`: a new stable node, or a new dup at the head of the existing chain. */
  private stableInsert(fp: number, frame: number): void {
    let node = this.stable.get(fp);
    if (node === undefined) {
      node = new StableNode(fp, frame);
      this.stable.add(node);
    } else {
      this.setAllFull(node, false);
      node.dups.push(frame);
    }
    this.nodeOfFrame.set(frame, node);
  }

  /** Split a 2 MiB mapping around `gpa` (KSM splits THPs before merging); counted as ksmd's. */
  private splitIfHuge(vm: HostVm, gpa: number): void {
    const before = vm.counters.tlbFlushes;
    if (vm.splitHugeMapping(gpa)) this.c.hugeSplits++;
    this.c.tlbFlushes += vm.counters.tlbFlushes - before;
  }

  /** try_to_merge_one_page with no KSM page yet: write-protect the page in place; it becomes the KSM page. */
  private makeKsmPage(vm: HostVm, gpa: number): number {
    this.splitIfHuge(vm, gpa);
    const before = vm.counters.tlbFlushes;
    const f = vm.shareFrame(gpa, FRAME_KSM);
    this.c.tlbFlushes += vm.counters.tlbFlushes - before;
    return f;
  }

  /** write_protect_page + replace_page: map `kframe` at `gpa` read-only, freeing the page's old frame. */
  private mergeInto(vm: HostVm, gpa: number, kframe: number): void {
    this.splitIfHuge(vm, gpa);
    const before = vm.counters.tlbFlushes;
    vm.shareFrame(gpa, FRAME_KSM); // write_protect_page: ptep_clear_flush when writable
    vm.mapShared(gpa, kframe, true); // replace_page: ptep_clear_flush, set_pte_at_notify, put the old page
    this.c.tlbFlushes += vm.counters.tlbFlushes - before;
    this.c.merges++;
  }

  /**
   * The zero page: a host frame of zeros (Ksm|Readonly), a new one past the 16-bit refcount. A zero
   * frame whose last mapping went (COW breaks) is freed by the VM like any KSM page and dropped here.
   */
  private zeroFrame(): number {
    const mem = this.memory;
    this.zeroFrames = this.zeroFrames.filter((f) => this.isZeroFrame(f));
    for (let i = 0; i < this.zeroFrames.length; i++) if (mem.refcount(this.zeroFrames[i]) < ZERO_PAGE_MAX_MAPPINGS) return this.zeroFrames[i];
    const f = mem.alloc(0, SIZE_4K, -1, FRAME_KSM | FRAME_READONLY);
    if (f < 0) throw new UserError('ksm: no host memory left for the zero page');
    mem.setFingerprint(f, ZERO_FINGERPRINT);
    this.zeroFrames.push(f);
    return f;
  }

  private isZeroFrame(f: number): boolean {
    const mem = this.memory;
    const fl = mem.flags(f);
    return (fl & FRAME_ALLOCATED) !== 0 && (fl & FRAME_KSM) !== 0 && mem.owner(f) === -1 && mem.fingerprint(f) === ZERO_FINGERPRINT;
  }

  /** The sysfs counters now. pages_shared/pages_sharing are recounted from the frames themselves. */
  counters(): KsmCounters {
    const mem = this.memory;
    let shared = 0;
    let sharing = 0;
    let chains = 0;
    let dupsInChains = 0;
    this.stable.forEach((node) => {
      let live = 0;
      for (const f of node.dups) {
        if (!this.liveKsm(f, node.fp)) continue;
        live++;
        sharing += mem.refcount(f) - 1;
      }
      shared += live;
      if (live > 1) {
        chains++;
        dupsInChains += live;
      }
    });
    let zero = 0;
    for (const f of this.zeroFrames) if (this.isZeroFrame(f)) zero += mem.refcount(f);
    const rm = this.rmapItems;
    return {
      pagesShared: shared,
      pagesSharing: sharing,
      pagesUnshared: this.unshared,
      pagesVolatile: Math.max(0, rm - shared - sharing - this.unshared - zero),
      fullScans: this.c.fullScans,
      pagesScanned: this.c.pagesScanned,
      pagesSkipped: this.c.pagesSkipped,
      stableNodeChains: chains,
      stableNodeDups: dupsInChains,
      ksmZeroPages: zero,
      rmapItems: rm,
      generalProfit: (sharing + zero) * PAGE_4K - rm * RMAP_ITEM_BYTES,
      merges: this.c.merges,
      tlbFlushes: this.c.tlbFlushes,
      hugeSplits: this.c.hugeSplits,
      byteConfirms: this.c.byteConfirms,
      byteMismatches: this.c.byteMismatches,
      cpuNs: this.c.cpuNs,
      pagesToScan: this.pagesToScan,
    };
  }
}
