/**
 * Loaders: how an image gets into a VM's guest-physical memory (the loader seam, DESIGN.md).
 *
 * - `loadCopy`, the standard loader: Firecracker's ELF loader (rust-vmm linux-loader) reads each
 *   PT_LOAD segment's `p_filesz` bytes into fresh anonymous guest memory at `p_paddr`; bss beyond
 *   `p_filesz` stays untouched (research/dedup.md §6). Every page it writes is a private frame
 *   holding the image's content.
 * - `loadFromPool`, the load-time loader (dedup.md §1.5, Spacer-SLT `uk_loader.rs`): every shared
 *   section of the description is mmapped MAP_PRIVATE from the pool file in /dev/shm, so the VM maps
 *   the pool's page-cache pages, one host frame per pool page for all VMs, read-only and
 *   copy-on-write on a guest write; private sections (data, trampoline tables) are copied into
 *   private frames; bss and stacks are zero-filled on demand by the first touch. Nothing is scanned
 *   and nothing is flushed: mapping an empty range needs no TLB flush.
 *
 * The host layer does not read files: callers hand in page lists (guest-physical address and
 * content fingerprint per page), built from the image toolchain's loaded view or description.
 *
 * A `LibraryPool` holds the pool's frames (flag Pool | Readonly, no owner). Like files copied into
 * /dev/shm, every entry is resident from the moment it is added, whether or not a VM maps it, and
 * stays resident when the last mapping goes (HostVm never frees a Pool frame).
 */
import { InvariantError } from '../base/assert.ts';
import { UserError } from '../base/errors.ts';
import type { HostBackend } from './backend.ts';
import type { ResolvedHostCosts } from './costs.ts';
import { HOST_CONSTANTS, type HostMemory } from './frames.ts';
import type { HostVm } from './vm.ts';

// Module-local copies of constants (see HOST_CONSTANTS).
const { PAGE_4K, SIZE_4K, FRAME_POOL, FRAME_READONLY } = HOST_CONSTANTS;

/** Pages to place: guest-physical address and content fingerprint, struct of arrays. */
export interface PageList {
  gpa: Float64Array;
  fingerprint: Float64Array;
}

export function pageList(pages: readonly { gpa: number; fingerprint: number }[]): PageList {
  const gpa = new Float64Array(pages.length);
  const fingerprint = new Float64Array(pages.length);
  pages.forEach((p, i) => {
    gpa[i] = p.gpa;
    fingerprint[i] = p.fingerprint;
  });
  return { gpa, fingerprint };
}

/** What a load did. */
export interface LoadResult {
  /** Pages copied into private frames. */
  pagesCopied: number;
  /** Pages mapped from shared pool frames. */
  pagesMapped: number;
  /** Estimated host CPU time of the load, cycles: faults + copies for copied pages, a minor fault per mapped page. */
  cycles: number;
}

/** The standard loader: copy every file-backed image page into a private frame. */
export function loadCopy(vm: HostVm, pages: PageList, costs: ResolvedHostCosts): LoadResult {
  let cycles = 0;
  const n = pages.gpa.length;
  const copy4kCycles = costs.copy4kCycles;
  for (let i = 0; i < n; i++) {
    cycles += vm.writePage(pages.gpa[i], pages.fingerprint[i]);
    cycles += copy4kCycles;
  }
  return { pagesCopied: n, pagesMapped: 0, cycles };
}

/** One pool entry (a library section file in /dev/shm): its frames, one per page. */
interface PoolEntry {
  frames: Int32Array;
}

/** The library pool's frames: one host frame per pool page, shared by every VM that maps it. */
export class LibraryPool {
  private readonly entries = new Map<string, PoolEntry>();
  private frameCount = 0;

  constructor(
    private readonly memory: HostMemory,
    private readonly tier = 0,
  ) {}

  /** Add an entry (idempotent by key: an existing entry is never overwritten, as the extractor does). */
  addEntry(key: string, fingerprints: ArrayLike<number>): void {
    const old = this.entries.get(key);
    if (old) {
      if (old.frames.length !== fingerprints.length) throw new InvariantError(`pool entry ${key}: ${fingerprints.length} pages, but the pool holds ${old.frames.length}`);
      return;
    }
    const frames = new Int32Array(fingerprints.length);
    for (let i = 0; i < fingerprints.length; i++) {
      const f = this.memory.alloc(this.tier, SIZE_4K, -1, FRAME_POOL | FRAME_READONLY);
      if (f < 0) throw new UserError(`library pool: no host memory left for entry ${key}`);
      this.memory.setFingerprint(f, fingerprints[i]);
      frames[i] = f;
    }
    this.entries.set(key, { frames });
    this.frameCount += frames.length;
  }

  /** Host frames of an entry (resolved once per image, before any load). */
  framesOf(key: string): Int32Array {
    const e = this.entries.get(key);
    if (!e) throw new InvariantError(`library pool: no entry ${key}`);
    return e.frames;
  }

  /** Frames the pool holds (resident whether mapped or not). */
  get frames(): number {
    return this.frameCount;
  }

  get entryCount(): number {
    return this.entries.size;
  }

  /** Free every pool frame; no VM may map any of them any more. */
  release(): void {
    for (const e of this.entries.values()) for (const f of e.frames) this.memory.free(f, SIZE_4K);
    this.entries.clear();
    this.frameCount = 0;
  }
}

/** An image as the pool loader sees it: shared sections resolved to pool frames, private pages. */
export interface PoolImage {
  /** Shared pages: guest-physical address and pool frame, struct of arrays. */
  sharedGpa: Float64Array;
  sharedFrame: Int32Array;
  /** Private pages copied into private frames (data, trampoline tables). */
  private: PageList;
}

/** Resolve a description's shared sections against the pool: section start + pool entry key per section. */
export function poolImage(pool: LibraryPool, shared: readonly { gpa: number; entry: string }[], privatePages: PageList): PoolImage {
  let n = 0;
  const frames = shared.map((s) => pool.framesOf(s.entry));
  for (const f of frames) n += f.length;
  const sharedGpa = new Float64Array(n);
  const sharedFrame = new Int32Array(n);
  let k = 0;
  shared.forEach((s, i) => {
    if (s.gpa % PAGE_4K !== 0) throw new InvariantError(`pool section at 0x${s.gpa.toString(16)} is not page-aligned`);
    for (let p = 0; p < frames[i].length; p++) {
      sharedGpa[k] = s.gpa + p * PAGE_4K;
      sharedFrame[k++] = frames[i][p];
    }
  });
  return { sharedGpa, sharedFrame, private: privatePages };
}

/** The load-time loader: map the pool's frames read-only, copy the private pages. */
export function loadFromPool(vm: HostVm, image: PoolImage, costs: ResolvedHostCosts): LoadResult {
  let cycles = 0;
  const n = image.sharedGpa.length;
  for (let i = 0; i < n; i++) {
    vm.mapShared(image.sharedGpa[i], image.sharedFrame[i], true);
    cycles += costs.exitCycles + costs.faultCycles;
  }
  const copied = loadCopy(vm, image.private, costs);
  return { pagesCopied: copied.pagesCopied, pagesMapped: n, cycles: cycles + copied.cycles };
}

/**
 * Pool invariants (tests, AssertionLevel.Aggressive): every frame a VM maps that carries the Pool
 * flag is unowned, read-only in the frame flags, and mapped read-only by every VM, so no two VMs
 * (indeed no VM) can write a pool page; a write goes through copy-on-write to a private frame.
 */
export function checkPoolInvariants(backend: HostBackend): void {
  const mem = backend.memory;
  for (const vm of backend.liveVms()) {
    vm.ept.forEachLeaf((addr, frame, size, writable) => {
      if (size !== SIZE_4K) return;
      const fl = mem.flags(frame);
      if (!(fl & FRAME_POOL)) return;
      if (writable) throw new InvariantError(`VM ${vm.id}: pool frame ${frame} is mapped writable at 0x${addr.toString(16)}`);
      if (mem.owner(frame) !== -1) throw new InvariantError(`pool frame ${frame} is owned by VM ${mem.owner(frame)}`);
      if (!(fl & FRAME_READONLY)) throw new InvariantError(`pool frame ${frame} lacks the Readonly flag`);
    });
  }
}
