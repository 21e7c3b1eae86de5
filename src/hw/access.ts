import type { ReplayBlock } from './replay-block.ts';

/**
 * The vCPU access path seam, between applications/workloads and the machine model.
 *
 * Contract: `load`/`store` of a guest-virtual address and a size return the cycles the access cost
 * (translation plus data); counters update in place inside the implementation; nothing is
 * allocated per access. An access that crosses a page boundary is charged as the accesses it
 * makes. Faults (guest page fault, EPT violation, copy-on-write) are resolved inside the call and
 * their cost is included.
 */
export interface AccessPath {
  load(gva: number, size: number): number;
  store(gva: number, size: number): number;
  /**
   * Optional bracket: the accesses until `endIndependent` do not depend on each other's results
   * (a copy, a scan), so their misses may overlap up to the core's limit of outstanding misses.
   * Outside it every miss is taken as dependent on the one before.
   */
  beginIndependent?(): void;
  endIndependent?(): void;
  /**
   * Optional: replay events [first, end) of a trace replay's kernel block in one call, as `load`
   * and `store` would serve them, up to the first one it does not serve; returns that one's index
   * (`first` when it serves none). src/hw/replay-block.ts, src/apps/traced.ts.
   */
  replayEvents?(block: ReplayBlock, first: number, end: number): number;
}
