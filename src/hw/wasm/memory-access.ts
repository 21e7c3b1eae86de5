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

/**
 * 1.5 * 2^52: for an integer x with |x| < 2^51, x + MAGIC is exact and lies in [2^52, 2^53), where
 * the low bits of a double's encoding are the integer's own (two's complement, modulo 2^32). An
 * addition and a move, where V8 compiles the saturating conversion of a double to a 32-bit integer
 * into a longer sequence: reading the header fields that way took a fifth of a random nested
 * translation's time (about 260 against 205 ns here, measured).
 */
export const MAGIC: f64 = 6755399441055744.0;

/** A small integer (|x| < 2^51) as an i32, its low 32 bits: a table index, the missed bucket, an offset (see MAGIC). */
@inline export function smallI32(x: f64): i32 {
  return <i32>reinterpret<i64>(x + MAGIC);
}

/** Add `v` to the f64 at `p` (a pending counter of a vCPU's block). */
@inline export function bump(p: usize, v: f64): void {
  store<f64>(p, load<f64>(p) + v);
}
