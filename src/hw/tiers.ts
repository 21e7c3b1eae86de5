/**
 * Memory tiers: what a cache miss costs depending on where the line lives. Presets carry their
 * sources; `resolveTier` turns nanoseconds into cycles at a core clock before any run starts.
 *
 * The latency model distinguishes sequential and random reads (Optane merges adjacent 64 B
 * requests into one 256 B media access, which is why its sequential read is about half its random
 * read) and counts media writes per `mediaLine` bytes (write amplification of sub-line writes).
 */
import { arena } from './arena.ts';

export interface TierPreset {
  name: string;
  kind: 'dram' | 'nvm' | 'cxl';
  /** Idle read latency for a line adjacent to the previous access to this tier, ns. */
  seqReadNs: number;
  /** Idle read latency for a random line, ns. */
  randReadNs: number;
  /** Latency of a write that reaches the memory controller, ns (posted; rarely on the critical path). */
  writeNs: number;
  /** Media access granularity, bytes. */
  mediaLine: number;
  /**
   * Bandwidth of the tier on the modelled host (one socket's channels or DIMMs together), GB/s:
   * what the cores that use the tier share (prefetched streams, write-backs). The comment on each
   * preset gives the per-DIMM or per-channel figure it is built from.
   */
  hostReadGBps: number;
  hostWriteGBps: number;
  source: string;
}

export const TIER_PRESETS: Record<string, TierPreset> = {
  /**
   * DDR4-2666 DRAM on the Cascade Lake testbed of Yang et al., FAST'20 (Fig. 2 region): about 80 ns
   * sequential and 100 ns random idle read latency; Optane's 305 ns random read is described there
   * as "about 3x slower than local DRAM". Bandwidth: one DDR4-2666 channel is 21.3 GB/s theoretical.
   */
  ddr4: {
    name: 'ddr4',
    kind: 'dram',
    seqReadNs: 80,
    randReadNs: 100,
    writeNs: 90,
    mediaLine: 64,
    // Six DDR4-2666 channels per Cascade Lake socket (the FAST'20 testbed): 6 x 21.3 = 128 GB/s theoretical.
    hostReadGBps: 128,
    hostWriteGBps: 128,
    source: 'Yang et al., FAST 2020 (DRAM on the same Cascade Lake testbed, ~80/~100 ns; exact Fig. 2 values to verify); DDR4-2666 channel 21.3 GB/s, six channels per socket 128 GB/s',
  },
  /**
   * Intel Optane DC PMM (1st gen) in App Direct mode, Yang et al., FAST'20: 169 ns sequential and
   * 305 ns random idle read; 256 B XPLine media granularity; 6.6 GB/s read and 2.3 GB/s write per
   * DIMM; six interleaved DIMMs of one socket measured 39.4 GB/s read and 13.9 GB/s write. Stores
   * are durable once in the iMC's WPQ (ADR), so write latency is DRAM-class.
   */
  optane: {
    name: 'optane',
    kind: 'nvm',
    seqReadNs: 169,
    randReadNs: 305,
    writeNs: 90,
    mediaLine: 256,
    hostReadGBps: 39.4,
    hostWriteGBps: 13.9,
    source: 'Yang et al., "An Empirical Guide to the Behavior and Use of Scalable Persistent Memory", FAST 2020',
  },
  /**
   * CXL-attached DRAM: local DRAM plus 70-150 ns (Pond, Li et al., ASPLOS'23: +70-90 ns for small
   * switchless pools; larger pools more). We take +110 ns, the middle of the range.
   */
  cxl: {
    name: 'cxl',
    kind: 'cxl',
    seqReadNs: 80 + 110,
    randReadNs: 100 + 110,
    writeNs: 90 + 110,
    mediaLine: 64,
    // One x16 device of about 32 GB/s each way [assumption: a host with one CXL memory expander].
    hostReadGBps: 32,
    hostWriteGBps: 32,
    source: 'Li et al., "Pond: CXL-Based Memory Pooling Systems for Cloud Platforms", ASPLOS 2023 (+70-150 ns over local DRAM); Sun et al. MICRO 2023',
  },
};

/** A tier with latencies in cycles, for hot paths. */
export interface ResolvedTier {
  id: number;
  name: string;
  kind: 'dram' | 'nvm' | 'cxl';
  seqReadCycles: number;
  randReadCycles: number;
  writeCycles: number;
  mediaLine: number;
  /** Host bandwidth of the tier in bytes per core cycle (see TierPreset.hostReadGBps). */
  readBytesPerCycle: number;
  writeBytesPerCycle: number;
}

export function resolveTier(preset: TierPreset, id: number, clockGHz: number): ResolvedTier {
  return {
    id,
    name: preset.name,
    kind: preset.kind,
    seqReadCycles: Math.round(preset.seqReadNs * clockGHz),
    randReadCycles: Math.round(preset.randReadNs * clockGHz),
    writeCycles: Math.round(preset.writeNs * clockGHz),
    mediaLine: preset.mediaLine,
    readBytesPerCycle: preset.hostReadGBps / clockGHz,
    writeBytesPerCycle: preset.hostWriteGBps / clockGHz,
  };
}

/** f64 constants per tier in `TierMap`'s table (see `TierMap.constantsAt`). */
export const TIER_CONSTANTS = 6;

/**
 * Which tier holds a host-physical frame. Host memory is laid out tier after tier (DRAM frames
 * first, then NVM, ...), so the map is a short sorted list of frame boundaries.
 */
export class TierMap {
  /** First frame past each tier, ascending (in the arena: the WebAssembly access path reads it at `endsAt`). */
  private readonly ends: Float64Array;
  /** `ends[0]`, for the common case of `tierOfFrame`. */
  private readonly firstEnd: number;
  readonly tiers: ResolvedTier[];
  readonly firstFrames: number[];
  /** Arena byte offset of `ends` (f64 per tier). */
  readonly endsAt: number;
  /**
   * Arena byte offset of the tiers' constants the WebAssembly access path needs (wasm/memory.ts),
   * written once: per tier `TIER_CONSTANTS` f64, `seqReadCycles`, `randReadCycles`, `mediaLine`,
   * `writeBytesPerCycle`, `readBytesPerCycle`, `writeCycles`, tier t's from
   * `constantsAt + 8 * TIER_CONSTANTS * t`.
   */
  readonly constantsAt: number;

  constructor(tiers: ResolvedTier[], frameCounts: number[]) {
    this.tiers = tiers;
    const bytes = 8 * tiers.length * (1 + TIER_CONSTANTS);
    this.endsAt = arena.alloc(bytes);
    arena.releaseWith(this, [this.endsAt, bytes]);
    this.constantsAt = this.endsAt + 8 * tiers.length;
    this.ends = new Float64Array(arena.memory.buffer, this.endsAt, tiers.length);
    const constants = new Float64Array(arena.memory.buffer, this.constantsAt, TIER_CONSTANTS * tiers.length);
    tiers.forEach((t, i) => constants.set([t.seqReadCycles, t.randReadCycles, t.mediaLine, t.writeBytesPerCycle, t.readBytesPerCycle, t.writeCycles], TIER_CONSTANTS * i));
    this.firstFrames = [];
    let end = 0;
    for (let i = 0; i < tiers.length; i++) {
      this.firstFrames.push(end);
      end += frameCounts[i];
      this.ends[i] = end;
    }
    this.firstEnd = this.ends[0];
  }

  /** Tier id of a host frame number. */
  tierOfFrame(frame: number): number {
    // The first tier (or the only one, which also takes frames past its end) without the loop:
    // every data line and walk reference that misses the caches asks.
    if (frame < this.firstEnd || this.ends.length === 1) return 0;
    const ends = this.ends;
    for (let i = 1; i < ends.length; i++) if (frame < ends[i]) return i;
    return ends.length - 1;
  }

  frameCount(tier: number): number {
    return this.ends[tier] - this.firstFrames[tier];
  }
}
