/**
 * Typed arrays that grow by doubling, for the models' append-only tables (apps, replay, in-memory
 * traces): one copy per doubling, never per element.
 */

/** Grow a float array to at least `need` elements, doubling; returns the same array if big enough. */
export function growF64(a: Float64Array<ArrayBuffer>, need: number, fill = 0): Float64Array<ArrayBuffer> {
  if (a.length >= need) return a;
  const b = new Float64Array(Math.max(need, a.length * 2));
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/** As `growF64`, for 32-bit integers. */
export function growI32(a: Int32Array<ArrayBuffer>, need: number, fill = 0): Int32Array<ArrayBuffer> {
  if (a.length >= need) return a;
  const b = new Int32Array(Math.max(need, a.length * 2));
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}
