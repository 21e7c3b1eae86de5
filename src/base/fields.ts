/**
 * Make numeric fields doubles from birth. V8 stores a field that has only held small integers as
 * one; the first value that is not (a fraction, or a sum past 2^30) changes the field's
 * representation, and with it the object's map, which discards the optimized code of every
 * function that writes the field, often in the middle of the loop that made it hot. Holding a
 * fraction once at construction avoids that later change. Each field keeps its value.
 */
export function startAsDoubles<T extends object>(target: T, fields: readonly (keyof T)[]): void {
  const numbers = target as Record<keyof T, number>;
  for (const f of fields) {
    const value = numbers[f];
    numbers[f] = 0.5;
    numbers[f] = value;
  }
}

/**
 * `x` as a 32-bit integer where it is one, else `x` itself: the same number either way. A value
 * read from a Float64Array is a double to V8 however small, and storing one turns a field that
 * has only held small integers (a count the JavaScript side increments, where a double costs more)
 * into a double field, giving its object a new map and throwing away the code optimized for the
 * old one; this keeps such a field what it was while its values stay small.
 */
export function asSmallInt(x: number): number {
  const i = x | 0;
  return i === x ? i : x;
}
