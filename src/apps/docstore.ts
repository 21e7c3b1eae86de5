/**
 * A document store for YCSB records, running inside a guest.
 *
 * A record is one Bulk allocation: a 16-byte header (key, field count and length) followed by the
 * fields back to back (YCSB CoreWorkload: 10 fields of 100 bytes by default, constant length):
 *
 *   0     8          16         16+L       16+2L                16+F*L
 *   +-----+----------+----------+----------+-------- ... -------+
 *   | key | F, L     | field0   | field1   |                    |
 *   +-----+----------+----------+----------+-------- ... -------+
 *
 * The primary index is a B+-tree (btree.ts) mapping the key to the record, in Hot allocations.
 *
 * Operations and their accesses:
 * - read: index seek, load of the leaf slot (record pointer), the record header, then the read
 *   field(s) line by line;
 * - update: index seek, slot load, header load, store of the written field(s) in place (fixed
 *   length fields never move);
 * - insert: malloc the record, store it whole, index insert (shifts and splits charged);
 * - scan: seek to the start key, then for each of `count` records: slot load, header load, field
 *   load; crossing to the next leaf loads its header;
 * - read-modify-write: read then update of the same record (one seek, as the second access would
 *   hit the same path).
 * Logical contents: per record and field an identity tag (the op's valueTag), in typed arrays.
 */
import { UserError } from '../base/errors.ts';
import { AllocHint, type GuestAllocator } from '../guest/allocator.ts';
import type { AccessPath } from '../hw/access.ts';
import { ALL_FIELDS, Operation, OpKind } from '../workload/op.ts';
import { growF64 } from '../base/grow.ts';
import { type App, loadRange, storeRange } from './app.ts';
import { BPlusTree } from './btree.ts';
import { DOCSTORE_COMPUTE, type DocComputeCosts, type OpCost } from './cost.ts';

export const RECORD_HEADER_BYTES = 16;

export interface DocStoreConfig {
  /** YCSB fieldcount (default 10). */
  fieldCount: number;
  /** YCSB fieldlength (default 100). */
  fieldLength: number;
  compute: DocComputeCosts;
}

export const DOCSTORE_DEFAULTS: Readonly<DocStoreConfig> = {
  fieldCount: 10,
  fieldLength: 100,
  compute: DOCSTORE_COMPUTE,
};

const NIL = -1;

export class DocumentStore implements App {
  readonly name = 'docstore';
  readonly config: Readonly<DocStoreConfig>;
  readonly backgroundCycles = 0;

  reads = 0;
  readMisses = 0;
  updates = 0;
  inserts = 0;
  scans = 0;
  scannedRecords = 0;

  /** Field tags returned by the last read (fieldCount entries; -1 where not read or missing). */
  readonly lastFieldTags: Float64Array;
  /** Keys returned by the last scan, in order; `lastScanCount` of them are valid. */
  lastScanKeys = new Float64Array(128);
  lastScanCount = 0;

  private readonly alloc: GuestAllocator;
  private readonly path: AccessPath;
  private readonly index: BPlusTree;
  private readonly recordBytes: number;

  private capacity = 0;
  private recordCount = 0;
  private rAddr = new Float64Array(0);
  private rKey = new Float64Array(0);
  private rTags = new Float64Array(0);

  constructor(alloc: GuestAllocator, path: AccessPath, config: Partial<DocStoreConfig> = {}) {
    const c: DocStoreConfig = { ...DOCSTORE_DEFAULTS, ...config };
    if (!Number.isInteger(c.fieldCount) || c.fieldCount < 1) {
      throw new UserError(`docstore.fieldCount: must be an integer >= 1, got ${c.fieldCount}`);
    }
    if (!Number.isInteger(c.fieldLength) || c.fieldLength < 1) {
      throw new UserError(`docstore.fieldLength: must be an integer >= 1, got ${c.fieldLength}`);
    }
    this.config = c;
    this.alloc = alloc;
    this.path = path;
    this.index = new BPlusTree(alloc, path);
    this.recordBytes = RECORD_HEADER_BYTES + c.fieldCount * c.fieldLength;
    this.lastFieldTags = new Float64Array(c.fieldCount).fill(-1);
  }

  setup(): number {
    return this.index.setup();
  }

  execute(op: Operation, cost: OpCost): void {
    cost.reset();
    const cc = this.config.compute;
    switch (op.kind) {
      case OpKind.Read:
        cost.compute = cc.read;
        cost.memory = this.doRead(op.key, op.readField, cost);
        return;
      case OpKind.Update:
        cost.compute = cc.update;
        cost.memory = this.doUpdate(op.key, op.writeField, op.valueTag, cost, true);
        return;
      case OpKind.Insert:
        cost.compute = cc.insert;
        cost.memory = this.doInsert(op.key, op.valueTag);
        return;
      case OpKind.Scan:
        cost.compute = cc.scanBase;
        cost.memory = this.doScan(op.key, op.count, op.readField, cost);
        cost.compute += cc.scanPerRecord * cost.returned;
        return;
      case OpKind.ReadModifyWrite: {
        cost.compute = cc.read + cc.update;
        let m = this.doRead(op.key, op.readField, cost);
        if (cost.hit) m += this.doUpdate(op.key, op.writeField, op.valueTag, cost, false);
        cost.memory = m;
        return;
      }
      default:
        throw new UserError('docstore: multi-get is a memcached operation; run memslap against the memcached store');
    }
  }

  private fieldsBytes(field: number): number {
    return field === ALL_FIELDS ? this.config.fieldCount * this.config.fieldLength : this.config.fieldLength;
  }
  private fieldOffset(field: number): number {
    return RECORD_HEADER_BYTES + (field === ALL_FIELDS ? 0 : field * this.config.fieldLength);
  }

  /** Seek `key` and load its slot and record header; returns cycles, record id in `cur` (or NIL). */
  private cur = NIL;
  private locate(key: number): number {
    const ix = this.index;
    let cycles = ix.seek(key);
    if (!ix.seekFound(key)) {
      this.cur = NIL;
      return cycles;
    }
    cycles += this.path.load(ix.slotAddr(ix.leaf, ix.pos), 8);
    const rec = ix.valueAt(ix.leaf, ix.pos);
    cycles += this.path.load(this.rAddr[rec], RECORD_HEADER_BYTES);
    this.cur = rec;
    return cycles;
  }

  private doRead(key: number, field: number, cost: OpCost): number {
    this.reads++;
    let cycles = this.locate(key);
    const rec = this.cur;
    const tags = this.lastFieldTags;
    tags.fill(-1);
    if (rec === NIL) {
      this.readMisses++;
      cost.hit = false;
      return cycles;
    }
    cycles += loadRange(this.path, this.rAddr[rec] + this.fieldOffset(field), this.fieldsBytes(field));
    this.copyTags(rec, field, tags);
    cost.hit = true;
    cost.returned = 1;
    return cycles;
  }

  private copyTags(rec: number, field: number, tags: Float64Array): void {
    const fc = this.config.fieldCount;
    if (field === ALL_FIELDS) for (let f = 0; f < fc; f++) tags[f] = this.rTags[rec * fc + f];
    else tags[field] = this.rTags[rec * fc + field];
  }

  private doUpdate(key: number, field: number, tag: number, cost: OpCost, seek: boolean): number {
    this.updates++;
    let cycles = 0;
    if (seek) cycles += this.locate(key);
    const rec = this.cur;
    if (rec === NIL) {
      cost.hit = false;
      return cycles;
    }
    cycles += storeRange(this.path, this.rAddr[rec] + this.fieldOffset(field), this.fieldsBytes(field));
    const fc = this.config.fieldCount;
    if (field === ALL_FIELDS) for (let f = 0; f < fc; f++) this.rTags[rec * fc + f] = tag;
    else this.rTags[rec * fc + field] = tag;
    return cycles;
  }

  private doInsert(key: number, tag: number): number {
    this.inserts++;
    const rec = this.takeRecord();
    const addr = this.alloc.malloc(this.recordBytes, AllocHint.Bulk);
    this.rAddr[rec] = addr;
    this.rKey[rec] = key;
    const fc = this.config.fieldCount;
    for (let f = 0; f < fc; f++) this.rTags[rec * fc + f] = tag;
    let cycles = storeRange(this.path, addr, this.recordBytes);
    cycles += this.index.insert(key, rec);
    const old = this.index.replaced;
    if (old !== NIL) {
      // An insert of an existing key replaces the document (YCSB never does this; kept total).
      this.alloc.free(this.rAddr[old]);
      this.rAddr[old] = 0;
    }
    return cycles;
  }

  private doScan(key: number, count: number, field: number, cost: OpCost): number {
    this.scans++;
    const ix = this.index;
    const path = this.path;
    let cycles = ix.seek(key);
    if (this.lastScanKeys.length < count) this.lastScanKeys = new Float64Array(Math.max(count, this.lastScanKeys.length * 2));
    let leaf = ix.leaf;
    let pos = ix.pos;
    let n = 0;
    const bytes = this.fieldsBytes(field);
    const off = this.fieldOffset(field);
    while (n < count && leaf !== NIL) {
      if (pos >= ix.countOf(leaf)) {
        leaf = ix.nextLeaf(leaf);
        pos = 0;
        if (leaf !== NIL) cycles += path.load(ix.headerAddr(leaf), 16);
        continue;
      }
      cycles += path.load(ix.slotAddr(leaf, pos), 8);
      const rec = ix.valueAt(leaf, pos);
      const addr = this.rAddr[rec];
      cycles += path.load(addr, RECORD_HEADER_BYTES);
      cycles += loadRange(path, addr + off, bytes);
      this.lastScanKeys[n++] = ix.keyAt(leaf, pos);
      pos++;
    }
    this.lastScanCount = n;
    this.scannedRecords += n;
    cost.returned = n;
    cost.hit = n > 0;
    return cycles;
  }

  private takeRecord(): number {
    const id = this.recordCount++;
    if (id >= this.capacity) {
      const cap = Math.max(1024, this.capacity * 2);
      this.rAddr = growF64(this.rAddr, cap);
      this.rKey = growF64(this.rKey, cap);
      this.rTags = growF64(this.rTags, cap * this.config.fieldCount);
      this.capacity = cap;
    }
    return id;
  }

  // ---- inspection (tests; not charged) ----------------------------------------------------

  /** Number of distinct keys in the index. */
  get size(): number {
    return this.index.size;
  }
  /** All keys in index order (allocates). */
  keys(): number[] {
    return this.index.keys();
  }
  get indexDepth(): number {
    return this.index.depth;
  }
}
