/**
 * The field helpers of src/base/fields.ts change how V8 stores a number, never the number:
 * `startAsDoubles` leaves every field at its value, and `asSmallInt` returns the same number
 * (a 32-bit integer where it is one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { asSmallInt, startAsDoubles } from '../../src/base/fields.ts';

test('startAsDoubles leaves each field at its value', () => {
  const o = { a: -1, b: 0, c: 7, d: 2 ** 40 + 3, e: 0.25 };
  startAsDoubles(o, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(o, { a: -1, b: 0, c: 7, d: 2 ** 40 + 3, e: 0.25 });
});

test('asSmallInt returns the same number, as an int32 where it is one', () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.double({ noNaN: false }), fc.maxSafeInteger()), (x) => {
      const y = asSmallInt(x);
      if (Number.isNaN(x)) return Number.isNaN(y);
      // -0 may come back as +0 (the same count: === holds); every other value exactly.
      assert.ok(y === x, `${x} came back as ${y}`);
      if (Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31) assert.equal(y | 0, y);
      return true;
    }),
  );
  for (const x of [2 ** 31, -(2 ** 31) - 1, 2 ** 53, 0.5, -1.5, Infinity]) assert.equal(asSmallInt(x), x);
});
