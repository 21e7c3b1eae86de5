/**
 * What the host's memory work costs the vCPU that waits for it. Declared in nanoseconds with their
 * sources, turned into cycles once at the core clock (`resolveHostCosts`) before any run starts.
 *
 * A lazy-backing fault is: VM exit + entry, KVM's EPT-violation path (memslot lookup, host page
 * fault / page allocation, SPTE install), then zeroing the new frame, plus zeroing each EPT table
 * page the mapping needed. A copy-on-write break copies instead of zeroing.
 */
export interface HostCostParams {
  /** VM exit + VM entry round trip, ns. */
  exitRoundTripNs: number;
  /** KVM EPT-violation handling without the clearing: memslot lookup, host fault, frame allocation, EPT install, ns. */
  faultHandlingNs: number;
  /** Bandwidth of clearing a freshly allocated frame, GB/s (1 GB = 1e9 B). */
  clearGBps: number;
  /** Bandwidth of copying a page on a copy-on-write break, GB/s. */
  copyGBps: number;
}

export const HOST_COST_SOURCES: Record<keyof HostCostParams, string> = {
  exitRoundTripNs:
    'VM exit + entry round trip of about 1,300-1,400 cycles (LKML, Dec 2020, "KVM: SVM: use vmsave/vmload for saving/restoring additional host state": post-VMRUN 1344-1376 cycles); Intel: "hundreds or thousands of cycles" (Intel blog "Understanding VM Exits", 2009). 1,300 cycles at 2.6 GHz = 0.5 us',
  faultHandlingNs:
    '[assumption, order of magnitude] KVM tdp page fault incl. host anonymous page allocation: ~1 us. Consistent with research/hostcheck.md §3: a native first touch on the project machine costs 1.6-4.5 us per 4 KiB page including clearing (the machine is itself a VM, so an upper bound)',
  clearGBps:
    'Linux commit "mm: folio_zero_user: clear pages sequentially" (2026-01): demand-fault clearing bandwidth 11.76 GB/s before, 23.58 GB/s after, AMD Genoa; we take the older 11.76',
  copyGBps: '[assumption] half the clearing bandwidth: a copy reads and writes every line',
};

export const DEFAULT_HOST_COSTS: HostCostParams = {
  exitRoundTripNs: 500,
  faultHandlingNs: 1000,
  clearGBps: 11.76,
  copyGBps: 5.88,
};

/** Costs in cycles, for the fault path. */
export interface ResolvedHostCosts {
  exitCycles: number;
  faultCycles: number;
  /** Cycles to clear one 4 KiB frame. */
  clear4kCycles: number;
  /** Cycles to copy one 4 KiB frame. */
  copy4kCycles: number;
}

export function resolveHostCosts(p: HostCostParams, clockGHz: number): ResolvedHostCosts {
  // bytes / (GB/s) = ns when GB = 1e9 B.
  return {
    exitCycles: Math.round(p.exitRoundTripNs * clockGHz),
    faultCycles: Math.round(p.faultHandlingNs * clockGHz),
    clear4kCycles: (4096 / p.clearGBps) * clockGHz,
    copy4kCycles: (4096 / p.copyGBps) * clockGHz,
  };
}
