/**
 * The application-model seam: something that runs inside a guest, executes workload operations,
 * and touches its data structures only through guest malloc and the vCPU access path.
 *
 * Contract: `setup()` is called once, after construction and before any `execute`; it allocates the
 * application's static structures and returns the cycles that cost. `execute(op, cost)` performs one
 * operation: it overwrites `cost` with the compute cycles (a modelled constant per kind, see
 * cost.ts) and the memory cycles (the sum of what every `load`/`store` returned). Nothing is
 * allocated on the JavaScript heap per operation except when a structure grows (amortised).
 */
import type { AccessPath } from '../hw/access.ts';
import type { Operation } from '../workload/op.ts';
import { LINE_BYTES, type OpCost } from './cost.ts';

export interface App {
  readonly name: string;
  setup(): number;
  execute(op: Operation, cost: OpCost): void;
  /**
   * Cycles spent off the request path (e.g. memcached's hash-table expansion on its maintenance
   * thread), cumulative since setup.
   */
  readonly backgroundCycles: number;
}

/**
 * Charge a read of `bytes` at `addr` as one access per touched 64-byte line, each sized to the part
 * of the range inside that line. This is what a memcpy or a field-by-field read does to the cache
 * hierarchy: each line is brought in once, and the machine model sees every line (and every page)
 * the copy crosses.
 */
export function loadRange(path: AccessPath, addr: number, bytes: number): number {
  let cycles = 0;
  let a = addr;
  const end = addr + bytes;
  // The lines of a copy are independent of each other: their misses may overlap.
  path.beginIndependent?.();
  while (a < end) {
    const lineEnd = (Math.floor(a / LINE_BYTES) + 1) * LINE_BYTES;
    const stop = lineEnd < end ? lineEnd : end;
    cycles += path.load(a, stop - a);
    a = stop;
  }
  path.endIndependent?.();
  return cycles;
}

/** Charge a write of `bytes` at `addr`, one access per touched 64-byte line (see loadRange). */
export function storeRange(path: AccessPath, addr: number, bytes: number): number {
  let cycles = 0;
  let a = addr;
  const end = addr + bytes;
  path.beginIndependent?.();
  while (a < end) {
    const lineEnd = (Math.floor(a / LINE_BYTES) + 1) * LINE_BYTES;
    const stop = lineEnd < end ? lineEnd : end;
    cycles += path.store(a, stop - a);
    a = stop;
  }
  path.endIndependent?.();
  return cycles;
}

/** A 32-bit mix of a key number below 2^53 (stands for memcached's murmur3 over the key bytes). */
export function hashKey(key: number): number {
  const hi = Math.floor(key / 4294967296) | 0;
  const lo = key | 0;
  let h = Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi ^ 0xc2b2ae35, 0x27d4eb2f);
  h ^= h >>> 15;
  h = Math.imul(h, 0x165667b1);
  h ^= h >>> 13;
  h = Math.imul(h, 0x2545f491);
  h ^= h >>> 16;
  return h >>> 0;
}
