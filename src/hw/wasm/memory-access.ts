/**
 * The small helpers every file of the module uses (translate.ts, datacache.ts, memory.ts): reading
 * the arena's pointers and i32 arrays, and JavaScript's conversion of a double to a 32-bit integer.
 */

/** 1 / 64: a byte address or frame number times it is its line (or line's frame), exactly. */
export const INV_64: f64 = 1.0 / 64.0;

/** `x | 0` of JavaScript for integers below 2^53 in magnitude (and their truncations). */
@inline export function toI32(x: f64): i32 {
  return <i32><i64>x;
}

/** The arena offset stored at `base + slot` (a header's array, a descriptor's structure). */
@inline export function pointerAt(base: usize, slot: usize): usize {
  return <usize>load<u32>(base + slot);
}

@inline export function i32At(a: usize, i: i32): i32 {
  return load<i32>(a + (<usize>i << 2));
}

@inline export function setI32(a: usize, i: i32, v: i32): void {
  store<i32>(a + (<usize>i << 2), v);
}
