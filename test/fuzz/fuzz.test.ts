/**
 * Fuzzing in the suite: about 2,000 structure-aware mutations of ELF images, configuration files,
 * sweep shard files and binary traces through the same entry points the command line uses, with a
 * fixed seed (UNIMEM_FUZZ_SEED changes it), plus a replay of every input the long campaign
 * (`npm run fuzz`) ever found failing. An input passes when it is read or refused with a one-line
 * UserError (for a trace: `<file>: byte N: <problem>`).
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { corpusEntries } from './corpus.ts';
import { FUZZ_TARGETS, verdict } from './targets.ts';
import { joinedBaseTraces, traceTarget } from './trace-target.ts';

const SEED = Number(process.env.UNIMEM_FUZZ_SEED ?? 20261204);
/** Cases per target in the suite: about 2,000 in all, a few seconds. */
const RUNS: Record<string, number> = { elf: 1100, config: 300, shard: 400, trace: 300 };

describe('fuzzed inputs give a result or a one-line error, never a crash', () => {
  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: ${RUNS[target.name] ?? 300} mutated inputs (seed ${SEED})`, () => {
      fc.assert(
        fc.property(target.arbitrary, (input) => {
          const failure = verdict(target, input);
          assert.equal(failure, null, `input of ${input.length} bytes: ${failure}`);
        }),
        { numRuns: RUNS[target.name] ?? 300, seed: SEED },
      );
    });

    const corpus = corpusEntries(target);
    it(`${target.name}: replays the ${corpus.length} corpus inputs`, { skip: corpus.length === 0 && 'the corpus of this target is empty' }, () => {
      for (const { file, bytes } of corpus) assert.equal(verdict(target, bytes), null, file);
    });
  }
});

describe('the trace target mutates valid traces', () => {
  it('its unmutated traces, put together by its own joiner, read back whole', () => {
    for (const bytes of joinedBaseTraces()) assert.doesNotThrow(() => traceTarget.run(bytes));
  });

  it('most of its mutations are refused, each with one line naming the byte', () => {
    let refused = 0;
    let accepted = 0;
    for (const input of fc.sample(traceTarget.arbitrary, { numRuns: 200, seed: 1 })) {
      try {
        traceTarget.run(input);
        accepted++;
      } catch (e) {
        assert.ok(traceTarget.acceptable!(e), String(e));
        refused++;
      }
    }
    // Some mutations are harmless (a meta field, a count set to what it was); most are not.
    assert.ok(refused > 100 && accepted > 0, `refused ${refused}, accepted ${accepted}`);
  });
});
