/**
 * The boot memory map the back-end hands a guest: an e820/SRAT-like table of guest-physical RAM
 * ranges, each with the tier that backs it. It is the whole of "cooperative mapping" on the guest
 * side: the front-end learns which ranges are DRAM and which are NVM, and that each range starts and
 * ends on a 2 MiB boundary, so its 2 MiB pages can meet 2 MiB host frames.
 *
 * e820 itself has no tier type (ACPI e820 types are RAM, reserved, ACPI, NVS, unusable, PMEM);
 * real systems say "which memory is slow" through SRAT proximity domains plus HMAT latencies, or
 * e820 type 7 (persistent memory). The table below folds both into one entry per range: `type`
 * (tier kind, or 'untyped' for a tier-unaware hypervisor) and `node` (the proximity domain: the
 * host tier id). This typed map is our reconstruction of UCat's interface (research/ucat.md §1.4);
 * the paper does not describe its format.
 */
export type MemoryMapType = 'dram' | 'nvm' | 'cxl' | 'untyped';

export const enum MemoryMapFlag {
  /** Ordinary RAM (e820 type 1). Always set for entries of this table. */
  Ram = 1,
  /** The host backs this range with 2 MiB frames where it can (aligned, huge backing allowed). */
  HugeBacked = 2,
  /** Start and size are multiples of 2 MiB. */
  Aligned2M = 4,
}

export interface MemoryMapEntry {
  gpaStart: number;
  bytes: number;
  type: MemoryMapType;
  /** Proximity domain (SRAT): the host tier id, -1 for untyped. */
  node: number;
  /** Host tier preset name ('' for untyped). */
  tierName: string;
  /** MemoryMapFlag bits. */
  flags: number;
}
