/**
 * A hash table from non-negative integers below 2^53 (page fingerprints, 48-bit keys) to
 * non-negative numbers, -1 when absent. Open addressing with linear probing over typed arrays: a
 * `Map` keyed by such numbers boxes every key as a heap number, and with millions of entries
 * (KSM's unstable tree over 10,000 VMs) its lookups and inserts dominated the run.
 */
export class NumberTable {
  private keys = new Float64Array(1024).fill(-1);
  private values = new Float64Array(1024);
  private bits = 10;
  size = 0;

  private slotOf(k: number): number {
    // Mix the low and high 32 bits (keys are below 2^53).
    const h = Math.imul((k | 0) ^ Math.imul((k / 4294967296) | 0, 0x85ebca6b), 0x9e3779b1);
    return h >>> (32 - this.bits);
  }

  get(k: number): number {
    const keys = this.keys;
    const mask = keys.length - 1;
    for (let s = this.slotOf(k); ; s = (s + 1) & mask) {
      const x = keys[s];
      if (x === k) return this.values[s];
      if (x === -1) return -1;
    }
  }

  set(k: number, v: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    const mask = keys.length - 1;
    let s = this.slotOf(k);
    while (keys[s] !== -1 && keys[s] !== k) s = (s + 1) & mask;
    if (keys[s] === -1) {
      keys[s] = k;
      this.size++;
    }
    this.values[s] = v;
  }

  /** Remove `k` if present (backward-shift deletion: no tombstones). */
  delete(k: number): void {
    const keys = this.keys;
    const mask = keys.length - 1;
    let s = this.slotOf(k);
    while (keys[s] !== k) {
      if (keys[s] === -1) return;
      s = (s + 1) & mask;
    }
    let hole = s;
    for (let j = (hole + 1) & mask; keys[j] !== -1; j = (j + 1) & mask) {
      const home = this.slotOf(keys[j]);
      // Move j into the hole unless its home slot lies cyclically within (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        keys[hole] = keys[j];
        this.values[hole] = this.values[j];
        hole = j;
      }
    }
    keys[hole] = -1;
    this.size--;
  }

  clear(): void {
    if (this.size === 0) return;
    this.keys.fill(-1);
    this.size = 0;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.bits++;
    this.keys = new Float64Array(1 << this.bits).fill(-1);
    this.values = new Float64Array(1 << this.bits);
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== -1) this.set(oldKeys[i], oldValues[i]);
  }
}
