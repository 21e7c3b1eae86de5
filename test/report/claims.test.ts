/**
 * What the experiments say about themselves: a description compares with a paper, it does not
 * claim to reproduce it (the run's own figures decide that, in the notes built from them).
 */
import * as assert from 'node:assert/strict';
import { it } from 'node:test';
import { experiments } from '../../src/experiments/index.ts';

it('no experiment description or reading guide claims to reproduce a paper', () => {
  for (const e of experiments) {
    for (const text of [e.title, e.description, e.howToRead ?? '']) assert.doesNotMatch(text, /\breproduc/i, `${e.name}: ${text}`);
  }
});
