/** HostVm.nextBackedGpa (src/host/vm.ts): the next backed page, against a page-by-page scan of frameOf. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MiB, PAGE_2M, PAGE_4K } from '../../src/base/units.ts';
import { HostBackend } from '../../src/host/index.ts';

const REGION = MiB(64);

/** The first page at or after `from` below `limit` whose frameOf is a frame, else `limit`. */
function bruteForce(frameOf: (gpa: number) => number, from: number, limit: number): number {
  for (let g = from; g < limit; g += PAGE_4K) if (frameOf(g) >= 0) return g;
  return limit;
}

describe('HostVm.nextBackedGpa', () => {
  it('finds the same page as a scan of frameOf, over 4 KiB and 2 MiB leaves, unmapped pages and empty tables', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.uniqueArray(fc.nat({ max: REGION / PAGE_4K - 1 }), { maxLength: 60 }),
        fc.array(fc.nat({ max: REGION / PAGE_4K - 1 }), { maxLength: 10 }),
        fc.array(fc.tuple(fc.nat({ max: REGION / PAGE_4K - 1 }), fc.nat({ max: REGION / PAGE_4K })), { minLength: 1, maxLength: 20 }),
        (huge, touched, unmapped, queries) => {
          const b = new HostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(512) }], variant: 'baseline', policy: { hugeBacking: huge ? 'always' : 'never' } });
          // A region that starts off a 2 MiB boundary, so some chunks can only take 4 KiB pages.
          const start = PAGE_2M + 3 * PAGE_4K;
          const vm = b.createVmWithRegions([{ gpaStart: start, bytes: REGION, tier: -1, hugeBacking: huge }]);
          for (const p of touched) vm.eptViolation(start + p * PAGE_4K, true);
          for (const p of unmapped) vm.unmapGpa(start + p * PAGE_4K);
          const frameOf = (g: number) => vm.frameOf(g);
          for (const [from, span] of queries) {
            const f = start + from * PAGE_4K;
            const limit = Math.min(start + REGION, f + span * PAGE_4K);
            assert.equal(vm.nextBackedGpa(f, limit), bruteForce(frameOf, f, limit), `from 0x${f.toString(16)} to 0x${limit.toString(16)}`);
          }
          // The whole region, run by run, visits exactly the backed pages.
          let g = start;
          let found = 0;
          while ((g = vm.nextBackedGpa(g, start + REGION)) < start + REGION) {
            assert.ok(vm.frameOf(g) >= 0);
            found++;
            g += PAGE_4K;
          }
          assert.equal(found, countBacked(frameOf, start, start + REGION));
        },
      ),
      { numRuns: 60 },
    );
  });
});

function countBacked(frameOf: (gpa: number) => number, from: number, limit: number): number {
  let n = 0;
  for (let g = from; g < limit; g += PAGE_4K) if (frameOf(g) >= 0) n++;
  return n;
}
