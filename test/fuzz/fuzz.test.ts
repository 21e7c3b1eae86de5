/**
 * Fuzzing in the suite: about 2,000 structure-aware mutations of ELF images, configuration files
 * and sweep shard files through the same entry points the command line uses, with a fixed seed
 * (UNIMEM_FUZZ_SEED changes it), plus a replay of every input the long campaign (`npm run fuzz`)
 * ever found failing. An input passes when it is read or refused with a one-line UserError.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fc from 'fast-check';
import { corpusEntries } from './corpus.ts';
import { acceptableError, FUZZ_TARGETS } from './targets.ts';

const SEED = Number(process.env.UNIMEM_FUZZ_SEED ?? 20261204);
/** Cases per target in the suite: about 2,000 in all, a few seconds. */
const RUNS: Record<string, number> = { elf: 1200, config: 300, shard: 500 };

function verdict(run: () => void): string | null {
  try {
    run();
    return null;
  } catch (e) {
    return acceptableError(e) ? null : ((e as Error).stack ?? String(e));
  }
}

describe('fuzzed inputs give a result or a one-line error, never a crash', () => {
  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: ${RUNS[target.name] ?? 300} mutated inputs (seed ${SEED})`, () => {
      fc.assert(
        fc.property(target.arbitrary, (input) => {
          const failure = verdict(() => target.run(input));
          assert.equal(failure, null, `input of ${input.length} bytes: ${failure}`);
        }),
        { numRuns: RUNS[target.name] ?? 300, seed: SEED },
      );
    });

    const corpus = corpusEntries(target);
    it(`${target.name}: replays the ${corpus.length} corpus inputs`, { skip: corpus.length === 0 && 'the corpus of this target is empty' }, () => {
      for (const { file, bytes } of corpus) assert.equal(verdict(() => target.run(bytes)), null, file);
    });
  }
});
