/**
 * An ordered index in guest memory: a B+-tree of fixed order whose nodes are allocated through the
 * guest allocator (Hot) and whose every node visit is charged through the access path. It gives the
 * document store point lookups and in-order scans, as a document database's primary-key B-tree
 * does (MongoDB's WiredTiger keeps the _id index as a B-tree; YCSB scans follow key order).
 *
 * Node layout (ORDER = 32 keys; one slot of slack so an insert can overflow before the split):
 *
 *   0        8        16                       16+8*(ORDER+1)                     NODE_BYTES
 *   +--------+--------+------------------------+-----------------------------------+
 *   | count  | next   | keys[ORDER+1] (f64)    | slots[ORDER+2] (child or record)  |
 *   | isLeaf | leaf   |                        |                                   |
 *   +--------+--------+------------------------+-----------------------------------+
 *
 * Internal node: child i holds keys < keys[i]; child `count` holds the rest. Leaf: slots[i] is the
 * value (record address) of keys[i]; leaves are chained through `next` for scans.
 *
 * Charging: per visited node a load of the 16-byte header, one 8-byte load per binary-search probe,
 * an 8-byte load of the followed child slot; an insert shifts the tail of the key and slot arrays
 * (one load and one store of the moved bytes, line by line) and writes the new entry; a split copies
 * the upper half into a new node. Logical contents mirror the node in typed arrays.
 */
import { AllocHint, type GuestAllocator } from '../guest/allocator.ts';
import type { AccessPath } from '../hw/access.ts';
import { growF64, growI32 } from '../base/grow.ts';
import { loadRange, storeRange } from './app.ts';

export const BTREE_ORDER = 32;
const KEY_SLOTS = BTREE_ORDER + 1;
const CHILD_SLOTS = BTREE_ORDER + 2;
const OFF_KEYS = 16;
const OFF_SLOTS = OFF_KEYS + 8 * KEY_SLOTS;
export const BTREE_NODE_BYTES = OFF_SLOTS + 8 * CHILD_SLOTS;
const MAX_DEPTH = 32;
const NIL = -1;

export class BPlusTree {
  private readonly alloc: GuestAllocator;
  private readonly path: AccessPath;

  private capacity = 0;
  private nodeCount = 0;
  private nKeys = new Float64Array(0);
  private nSlots = new Int32Array(0);
  private nCount = new Int32Array(0);
  private nLeaf = new Int32Array(0);
  private nNext = new Int32Array(0);
  private nAddr = new Float64Array(0);
  private root = NIL;
  private height = 0;
  private readonly pathNodes = new Int32Array(MAX_DEPTH);
  private readonly pathIdx = new Int32Array(MAX_DEPTH);

  /** Result of `seek`: leaf and position of the first key >= the sought key. */
  leaf = NIL;
  pos = 0;
  /** Result of `insert`: the value previously stored under the key, or -1. */
  replaced = NIL;
  size = 0;

  constructor(alloc: GuestAllocator, path: AccessPath) {
    this.alloc = alloc;
    this.path = path;
  }

  setup(): number {
    const cycles = this.newNode(true);
    this.root = this.lastNode;
    this.height = 1;
    return cycles;
  }

  private lastNode = NIL;

  private newNode(leaf: boolean): number {
    const id = this.nodeCount++;
    if (id >= this.capacity) {
      const cap = Math.max(64, this.capacity * 2);
      this.nKeys = growF64(this.nKeys, cap * KEY_SLOTS);
      this.nSlots = growI32(this.nSlots, cap * CHILD_SLOTS);
      this.nCount = growI32(this.nCount, cap);
      this.nLeaf = growI32(this.nLeaf, cap);
      this.nNext = growI32(this.nNext, cap);
      this.nAddr = growF64(this.nAddr, cap);
      this.capacity = cap;
    }
    this.nCount[id] = 0;
    this.nLeaf[id] = leaf ? 1 : 0;
    this.nNext[id] = NIL;
    this.nAddr[id] = this.alloc.malloc(BTREE_NODE_BYTES, AllocHint.Hot);
    this.lastNode = id;
    return this.path.store(this.nAddr[id], 16);
  }

  /** Binary search in a node for the first key >= key (leaf) or the child index (internal). */
  private searchNode(node: number, key: number, upper: boolean): number {
    const base = node * KEY_SLOTS;
    const addr = this.nAddr[node] + OFF_KEYS;
    let lo = 0;
    let hi = this.nCount[node];
    let cycles = 0;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      cycles += this.path.load(addr + 8 * mid, 8);
      const k = this.nKeys[base + mid];
      if (upper ? k <= key : k < key) lo = mid + 1;
      else hi = mid;
    }
    this.probe = lo;
    return cycles;
  }
  private probe = 0;

  /** Descend to the leaf holding `key`; leaves `leaf`/`pos` and the path. Returns cycles. */
  seek(key: number): number {
    const path = this.path;
    let node = this.root;
    let cycles = 0;
    let depth = 0;
    while (this.nLeaf[node] === 0) {
      cycles += path.load(this.nAddr[node], 16);
      cycles += this.searchNode(node, key, true);
      const idx = this.probe;
      this.pathNodes[depth] = node;
      this.pathIdx[depth] = idx;
      depth++;
      cycles += path.load(this.nAddr[node] + OFF_SLOTS + 8 * idx, 8);
      node = this.nSlots[node * CHILD_SLOTS + idx];
    }
    cycles += path.load(this.nAddr[node], 16);
    cycles += this.searchNode(node, key, false);
    this.leaf = node;
    this.pos = this.probe;
    return cycles;
  }

  /** Whether the last seek landed on `key` exactly. */
  seekFound(key: number): boolean {
    return this.pos < this.nCount[this.leaf] && this.nKeys[this.leaf * KEY_SLOTS + this.pos] === key;
  }

  /** Value at the seek position (charged as the 8-byte slot load). */
  valueAt(leaf: number, pos: number): number {
    return this.nSlots[leaf * CHILD_SLOTS + pos];
  }
  keyAt(leaf: number, pos: number): number {
    return this.nKeys[leaf * KEY_SLOTS + pos];
  }
  slotAddr(leaf: number, pos: number): number {
    return this.nAddr[leaf] + OFF_SLOTS + 8 * pos;
  }
  countOf(leaf: number): number {
    return this.nCount[leaf];
  }
  /** Next leaf (charged as a header load by the caller). */
  nextLeaf(leaf: number): number {
    return this.nNext[leaf];
  }
  headerAddr(node: number): number {
    return this.nAddr[node];
  }

  /** Insert or replace `key` -> `value` (value >= 0). Sets `replaced`. Returns cycles. */
  insert(key: number, value: number): number {
    let cycles = this.seek(key);
    const leaf = this.leaf;
    const pos = this.pos;
    if (this.seekFound(key)) {
      this.replaced = this.nSlots[leaf * CHILD_SLOTS + pos];
      this.nSlots[leaf * CHILD_SLOTS + pos] = value;
      return cycles + this.path.store(this.slotAddr(leaf, pos), 8);
    }
    this.replaced = NIL;
    this.size++;
    cycles += this.insertAt(leaf, pos, key, value, pos);
    // Split upwards while a node overflowed.
    let node = leaf;
    let depth = this.height - 1;
    while (this.nCount[node] > BTREE_ORDER) {
      cycles += this.split(node);
      const right = this.lastNode;
      const sep = this.splitKey;
      if (depth === 0) {
        cycles += this.newNode(false);
        const r = this.lastNode;
        this.nKeys[r * KEY_SLOTS] = sep;
        this.nSlots[r * CHILD_SLOTS] = node;
        this.nSlots[r * CHILD_SLOTS + 1] = right;
        this.nCount[r] = 1;
        cycles += storeRange(this.path, this.nAddr[r], OFF_SLOTS + 16);
        this.root = r;
        this.height++;
        break;
      }
      depth--;
      const parent = this.pathNodes[depth];
      const idx = this.pathIdx[depth];
      cycles += this.insertAt(parent, idx, sep, right, idx + 1);
      node = parent;
    }
    return cycles;
  }

  /** Put key at key index `kpos` and value at slot index `spos`, shifting the tails right. */
  private insertAt(node: number, kpos: number, key: number, value: number, spos: number): number {
    const path = this.path;
    const kb = node * KEY_SLOTS;
    const sb = node * CHILD_SLOTS;
    const count = this.nCount[node];
    const slotsUsed = this.nLeaf[node] === 1 ? count : count + 1;
    const addr = this.nAddr[node];
    let cycles = 0;
    const kMove = count - kpos;
    if (kMove > 0) {
      cycles += loadRange(path, addr + OFF_KEYS + 8 * kpos, 8 * kMove);
      cycles += storeRange(path, addr + OFF_KEYS + 8 * (kpos + 1), 8 * kMove);
      this.nKeys.copyWithin(kb + kpos + 1, kb + kpos, kb + count);
    }
    const sMove = slotsUsed - spos;
    if (sMove > 0) {
      cycles += loadRange(path, addr + OFF_SLOTS + 8 * spos, 8 * sMove);
      cycles += storeRange(path, addr + OFF_SLOTS + 8 * (spos + 1), 8 * sMove);
      this.nSlots.copyWithin(sb + spos + 1, sb + spos, sb + slotsUsed);
    }
    this.nKeys[kb + kpos] = key;
    this.nSlots[sb + spos] = value;
    this.nCount[node] = count + 1;
    cycles += path.store(addr + OFF_KEYS + 8 * kpos, 8);
    cycles += path.store(addr + OFF_SLOTS + 8 * spos, 8);
    cycles += path.store(addr, 8);
    return cycles;
  }

  private splitKey = 0;

  /** Split an overflowing node; the new right node is `lastNode`, the separator `splitKey`. */
  private split(node: number): number {
    const path = this.path;
    const leaf = this.nLeaf[node] === 1;
    let cycles = this.newNode(leaf);
    const right = this.lastNode;
    const count = this.nCount[node];
    const kb = node * KEY_SLOTS;
    const sb = node * CHILD_SLOTS;
    const rk = right * KEY_SLOTS;
    const rs = right * CHILD_SLOTS;
    const addr = this.nAddr[node];
    const raddr = this.nAddr[right];
    if (leaf) {
      const keep = (count + 1) >>> 1;
      const move = count - keep;
      this.nKeys.copyWithin(rk, kb + keep, kb + count);
      this.nSlots.copyWithin(rs, sb + keep, sb + count);
      this.nCount[node] = keep;
      this.nCount[right] = move;
      this.nNext[right] = this.nNext[node];
      this.nNext[node] = right;
      this.splitKey = this.nKeys[rk];
      cycles += loadRange(path, addr + OFF_KEYS + 8 * keep, 8 * move) + storeRange(path, raddr + OFF_KEYS, 8 * move);
      cycles += loadRange(path, addr + OFF_SLOTS + 8 * keep, 8 * move) + storeRange(path, raddr + OFF_SLOTS, 8 * move);
    } else {
      const mid = count >>> 1;
      const move = count - mid - 1;
      this.splitKey = this.nKeys[kb + mid];
      this.nKeys.copyWithin(rk, kb + mid + 1, kb + count);
      this.nSlots.copyWithin(rs, sb + mid + 1, sb + count + 1);
      this.nCount[node] = mid;
      this.nCount[right] = move;
      cycles += loadRange(path, addr + OFF_KEYS + 8 * mid, 8 * (move + 1)) + storeRange(path, raddr + OFF_KEYS, 8 * move);
      cycles += loadRange(path, addr + OFF_SLOTS + 8 * (mid + 1), 8 * (move + 1)) + storeRange(path, raddr + OFF_SLOTS, 8 * (move + 1));
    }
    cycles += path.store(addr, 16) + path.store(raddr, 16);
    return cycles;
  }

  /** All keys in order (tests; allocates). */
  keys(): number[] {
    const out: number[] = [];
    let node = this.root;
    while (this.nLeaf[node] === 0) node = this.nSlots[node * CHILD_SLOTS];
    for (; node !== NIL; node = this.nNext[node]) {
      for (let i = 0; i < this.nCount[node]; i++) out.push(this.nKeys[node * KEY_SLOTS + i]);
    }
    return out;
  }

  get depth(): number {
    return this.height;
  }
  get nodes(): number {
    return this.nodeCount;
  }
}
