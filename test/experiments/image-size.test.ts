import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentProgress } from '../../src/base/progress.ts';
import { memorySystem } from '../../src/base/system.ts';
import { main } from '../../src/cli/main.ts';
import { findExperiment } from '../../src/experiments/index.ts';
import { imageSizeExperiment } from '../../src/experiments/image-size.ts';
import { numericSummary } from '../../src/experiments/types.ts';

test('image-size measures every variant and finds aligned images larger but far more shareable', () => {
  const config = imageSizeExperiment.defaults(true);
  const r = imageSizeExperiment.run(config, { seed: 1, progress: silentProgress });
  const s = numericSummary(r.summary);
  assert.ok(s.images >= 4 * 20);
  assert.ok(s.alignedFileGrowth > 0 && s.alignedVirtualGrowth > 0, 'alignment inflates');
  assert.ok(s.aslrFileGrowth > 0);
  assert.ok(s.dceFileGrowth < 0, 'DCE shrinks');
  assert.ok(s.alignedMergeablePages > s.compactMergeablePages);
  assert.ok(s.aslrMergeablePages > s.compactMergeablePages);
  const variants = r.tables.find((t) => t.name === 'variants')!;
  assert.deepEqual(variants.rows.map((row) => row[0]), ['compact', 'dce', 'aligned', 'aligned-aslr']);
  // Deterministic: a second run gives the same result.
  assert.deepEqual(imageSizeExperiment.run(config, { seed: 1, progress: silentProgress }), r);
});

test('unimem run image-size --quick --json prints the result on standard output', async () => {
  assert.ok(findExperiment('image-size'));
  const sys = memorySystem();
  assert.equal(await main(['run', 'image-size', '--quick', '--json'], sys), 0);
  const out = JSON.parse(sys.stdout.join(''));
  assert.equal(out.experiment, 'image-size');
  assert.equal(typeof out.summary.alignedFileGrowth, 'number');
});

test('image-size notes are built from the image set measured: another set, other notes', () => {
  const notesFor = (applications: number) => {
    const config = { ...imageSizeExperiment.defaults(true), applications };
    const r = imageSizeExperiment.run(config, { seed: 1, progress: silentProgress });
    const rows = r.tables.find((t) => t.name === 'images')!.rows;
    const fileBytes = (variant: string) => rows.filter((row) => row[1] === variant && row[2] === 0).reduce((sum, row) => sum + Number(row[3]), 0);
    const aligned = r.comparisons.find((c) => c.metric === 'ELF size growth of aligned images')!;
    // The note names the set's own image count and byte totals, read here from the per-image table.
    assert.equal(aligned.note, `sum over ${applications} images against compact: ${fileBytes('compact')} to ${fileBytes('aligned')} bytes, including zero-filled holes of the aligned layout`);
    return r.comparisons.map((c) => c.note);
  };
  const small = notesFor(3);
  const larger = notesFor(6);
  for (const i of [0, 1, 2]) assert.notEqual(small[i], larger[i], `note ${i} follows the set`);
});
