/**
 * YCSB's 64-bit FNV hash of a long (site.ycsb.Utils.fnvhash64), without BigInt.
 *
 * YCSB hashes the 8 little-endian octets of a long with FNV-1 style steps (xor the octet, then
 * multiply by the 64-bit FNV prime 0x100000001b3) and returns Math.abs of the signed result. It is
 * used twice: to scatter the popular ranks of ScrambledZipfianGenerator over the key space, and to
 * build key names when insertorder=hashed (CoreWorkload.buildKeyName).
 * Source: https://github.com/brianfrankcooper/YCSB/blob/master/core/src/main/java/site/ycsb/Utils.java
 *
 * The 64-bit state is kept as two uint32 halves. The prime is 2^40 + 0x1b3, so a multiply is
 * `h * 0x1b3 + (h << 40)`; `lo * 0x1b3` is below 2^41 and therefore exact in a double.
 */

const TWO32 = 4294967296;
const FNV_PRIME_LOW = 0x1b3;
const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;

// One hash result, read right after the call (no allocation per hash). Per-module scratch, not
// state that outlives a call.
let outHi = 0;
let outLo = 0;

/** Hash `val` (a non-negative integer below 2^53) into outHi/outLo, as YCSB's fnvhash64. */
function fnv64(val: number): void {
  let vhi = Math.floor(val / TWO32) >>> 0;
  let vlo = val >>> 0;
  let hi = FNV_OFFSET_HI;
  let lo = FNV_OFFSET_LO;
  for (let i = 0; i < 8; i++) {
    const octet = vlo & 0xff;
    vlo = ((vlo >>> 8) | ((vhi & 0xff) << 24)) >>> 0;
    vhi = vhi >>> 8;
    lo = (lo ^ octet) >>> 0;
    const t = lo * FNV_PRIME_LOW;
    const carry = Math.floor(t / TWO32);
    hi = (Math.imul(hi, FNV_PRIME_LOW) + carry + (lo << 8)) >>> 0;
    lo = t >>> 0;
  }
  if (hi & 0x80000000) {
    // Math.abs of a negative long: two's complement negation.
    lo = (~lo + 1) >>> 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  }
  outHi = hi;
  outLo = lo;
}

/** fnvhash64(val) mod n, exact for n below 2^37 (YCSB: `Utils.fnvhash64(ret) % itemcount`). */
export function fnvHashMod(val: number, n: number): number {
  fnv64(val);
  // (hi * 2^32 + lo) mod n in 16-bit steps so no intermediate exceeds 2^53.
  let r = outHi % n;
  r = (r * 65536 + (outLo >>> 16)) % n;
  r = (r * 65536 + (outLo & 0xffff)) % n;
  return r;
}

/** The low 53 bits of fnvhash64(val): the hashed key name as an exact double. */
export function fnvHash53(val: number): number {
  fnv64(val);
  return (outHi & 0x1fffff) * TWO32 + outLo;
}

/** fnvhash64(val) as [hi, lo] uint32 halves (tests and diagnostics; allocates). */
export function fnvHash64Parts(val: number): [number, number] {
  fnv64(val);
  return [outHi, outLo];
}

/** Decimal digits of the value hashed by the last fnvHash53/fnvHashMod call (no rehash). */
export function lastHashDigits(): number {
  const x = outHi * TWO32 + outLo;
  return x < 1 ? 1 : Math.floor(Math.log10(x)) + 1;
}

/** Number of decimal digits of fnvhash64(val) (the length of YCSB's hashed key name, minus "user"). */
export function fnvHashDigits(val: number): number {
  fnv64(val);
  const x = outHi * TWO32 + outLo;
  return x < 1 ? 1 : Math.floor(Math.log10(x)) + 1;
}
