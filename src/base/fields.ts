/**
 * Make numeric fields doubles from birth. V8 stores a field that has only held small integers as
 * one; the first value that is not (a fraction, or a sum past 2^30) changes the field's
 * representation, and with it the object's map, which discards the optimized code of every
 * function that writes the field, often in the middle of the loop that made it hot. Holding a
 * fraction once at construction avoids that later change. The values stay +0.
 */
export function startAsDoubles<T extends object>(target: T, fields: readonly (keyof T)[]): void {
  const numbers = target as Record<keyof T, number>;
  for (const f of fields) {
    numbers[f] = 0.5;
    numbers[f] = 0;
  }
}
