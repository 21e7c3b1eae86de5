/**
 * The operation record every workload generator fills and every application model executes.
 *
 * Contract: a generator owns no operation objects; the caller preallocates one `Operation` and
 * passes it to `nextLoad`/`nextRun`, which overwrite every field. Keys are numbers (the key as the
 * store sees it); key and value byte lengths are fields, so no strings exist on the hot path.
 */

/** Operation kinds, small integers used as array indices. */
export const enum OpKind {
  /** YCSB read / memcached get. */
  Read = 0,
  /** YCSB update (one field or all) / memcached set of an existing key. */
  Update = 1,
  /** YCSB insert (new record) / memcached set. */
  Insert = 2,
  /** YCSB scan: `count` records in key order from `key`. */
  Scan = 3,
  /** YCSB read-modify-write: read `readField`, then write `writeField`. */
  ReadModifyWrite = 4,
  /** memslap mget: `count` gets of keys `key .. key+count-1` in one request. */
  MultiGet = 5,
}
export const OP_KIND_COUNT = 6;
export const OP_KIND_NAMES: readonly string[] = ['read', 'update', 'insert', 'scan', 'readmodifywrite', 'multiget'];

/** Marker for "all fields" in `readField`/`writeField`. */
export const ALL_FIELDS = -1;

export class Operation {
  kind: OpKind = OpKind.Read;
  /** The key as the store sees it (YCSB: hashed key name when insertorder=hashed; memslap: pair index). */
  key = 0;
  /** The generator's sequence number for the key (YCSB keynum); used by statistics and tests. */
  keyNum = 0;
  /** Key length in bytes. */
  keyBytes = 0;
  /** Bytes written by this operation (value, one field, or a whole record); 0 for pure reads. */
  valueBytes = 0;
  /** Field read (YCSB), ALL_FIELDS for every field. */
  readField = ALL_FIELDS;
  /** Field written (YCSB), ALL_FIELDS for every field. */
  writeField = ALL_FIELDS;
  /** Scan length or multi-get key count; 1 otherwise. */
  count = 1;
  /** Identity of the written content (stands for the value bytes); 0 for reads. */
  valueTag = 0;
}

/**
 * A workload generator: a load phase (initial records) followed by a run phase.
 *
 * Contract: deterministic given its configuration and the `Rng` it was built with; `nextLoad` is
 * called exactly `loadCount` times before `nextRun`; nothing is allocated per call.
 */
export interface WorkloadGenerator {
  readonly name: string;
  /** Number of load-phase operations (YCSB recordcount, memslap initial load). */
  readonly loadCount: number;
  /** Number of run-phase operations (YCSB operationcount, memslap concurrency x execute number). */
  readonly runCount: number;
  nextLoad(op: Operation): void;
  nextRun(op: Operation): void;
}
