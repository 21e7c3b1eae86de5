/**
 * What one application operation costs, and the compute part of it.
 *
 * An operation's cycles = a modelled compute constant for its kind (request parsing, hashing,
 * protocol and network stack, serialisation: everything that is not a load or store of the
 * store's own data structures) + the cycles the machine model returns for each load and store of
 * those data structures. Throughput follows: ops/s = ops / ((compute + memory) / clockHz).
 *
 * The compute constants are modelled, not measured, and stated with their reasoning:
 * - memcached: published server-side costs of a small GET/SET are a few microseconds of CPU per
 *   request at 2-3 GHz, most of it in the network stack and request handling (Lim et al., "Thin
 *   Servers with Smart Pipes", ISCA 2013, find the network stack dominating memcached time; MICA,
 *   NSDI 2014, reports stock memcached at well under 1 Mop/s per core). We take 5,000 cycles for a
 *   GET (about 2 us at 2.5 GHz) and 6,000 for a SET (extra item allocation bookkeeping and reply),
 *   excluding the hash-table, LRU and value accesses that the machine model charges separately.
 * - document store (YCSB): a YCSB operation against a document database spends tens of
 *   microseconds client-to-server, of which the server's CPU share for a 1 KB record is on the
 *   order of 10 us (BSON/document encoding, query layer, storage engine bookkeeping). We take
 *   read 20,000, update 25,000, insert 30,000, scan 20,000 + 2,000 per returned record, and a
 *   read-modify-write is a read plus an update.
 * - hashing a key (memcached's murmur3/jenkins over ~20-64 B): ~1 cycle per byte plus a constant;
 *   included in the per-request constants above.
 * Experiments that want compute-free memory comparisons pass all zeros.
 */

/** Cycles of one executed operation, written in place (no allocation per operation). */
export class OpCost {
  compute = 0;
  memory = 0;
  /** Whether the operation found its key (gets and reads); true for writes. */
  hit = true;
  /** Records or values returned (scan length, multi-get hits). */
  returned = 0;

  reset(): void {
    this.compute = 0;
    this.memory = 0;
    this.hit = true;
    this.returned = 0;
  }
}

export interface KvComputeCosts {
  get: number;
  set: number;
  /** Extra per evicted item (unlink, free). */
  evict: number;
}

export const MEMCACHED_COMPUTE: Readonly<KvComputeCosts> = { get: 5000, set: 6000, evict: 300 };

export interface DocComputeCosts {
  read: number;
  update: number;
  insert: number;
  scanBase: number;
  scanPerRecord: number;
}

export const DOCSTORE_COMPUTE: Readonly<DocComputeCosts> = {
  read: 20000,
  update: 25000,
  insert: 30000,
  scanBase: 20000,
  scanPerRecord: 2000,
};

/** Cache line size used to chunk large copies (x86-64). */
export const LINE_BYTES = 64;
