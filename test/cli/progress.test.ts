/** Progress is drawn only on a terminal without --json; otherwise nothing extra is printed. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentProgress } from '../../src/base/progress.ts';
import { memorySystem } from '../../src/base/system.ts';
import { terminalProgress } from '../../src/cli/progress.ts';

describe('terminal progress', () => {
  it('is silent when standard output is not a terminal', () => {
    assert.equal(terminalProgress(memorySystem({ isTerminal: false }), false), silentProgress);
  });
  it('is silent with --json even on a terminal', () => {
    assert.equal(terminalProgress(memorySystem({ isTerminal: true }), true), silentProgress);
  });
  it('draws on a terminal without --json', () => {
    assert.notEqual(terminalProgress(memorySystem({ isTerminal: true }), false), silentProgress);
  });
});
