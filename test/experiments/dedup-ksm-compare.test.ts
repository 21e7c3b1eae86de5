/**
 * KSM on N distinct aligned images against `image compare`: load the 20 aligned FaaS images into
 * 20 VMs (standard loader, nothing else in guest memory), let the KSM model converge, and check
 * that pages_sharing equals what `image compare` counts independently from the files: the
 * non-zero pages that duplicate an identical page (byte-compared), plus the zero-filled
 * file-backed pages (the aligned layout's padding) merged like any content since use_zero_pages
 * is 0, in KSM pages of at most max_page_sharing mappings.
 */
import * as assert from 'node:assert/strict';
import { it } from 'node:test';
import { GiB, MiB } from '../../src/base/units.ts';
import { HostBackend, Ksm, KSM_DEFAULTS, loadCopy } from '../../src/host/index.ts';
import { comparePages, readLoadedImage } from '../../src/image/index.ts';
import { prepareSet } from '../../src/experiments/dedup/images.ts';
import { dedupFaasExperiment } from '../../src/experiments/dedup-faas.ts';
import { silentProgress } from '../../src/base/progress.ts';
import { faasSet } from '../image/faas-set.ts';

/** pages_sharing for n mappings of one content: KSM pages of up to m mappings; a lone copy is not shared. */
export function sharingOf(n: number, m: number): number {
  const full = Math.floor(n / m);
  const rest = n % m;
  return full * (m - 1) + (rest >= 2 ? rest - 1 : 0);
}

it('KSM pages_sharing over N distinct aligned images equals image compare\'s mergeable pages plus the zero-page rule', () => {
  const manifest = faasSet();
  const aligned = manifest.images.filter((i) => i.variant === 'aligned');
  const set = prepareSet(manifest, ['aligned']);
  const images = set.byVariant.get('aligned')!;
  assert.equal(images.length, aligned.length);

  const backend = new HostBackend({ tiers: [{ tier: 'ddr4', bytes: GiB(16) }], variant: 'baseline', policy: { hugeBacking: 'never' } });
  const ksm = new Ksm(backend.memory, {});
  for (const img of images) {
    const vm = backend.createVmWithRegions([{ gpaStart: 0, bytes: MiB(16), tier: -1, hugeBacking: false }]);
    loadCopy(vm, img.copyPages, backend.costs);
    ksm.register(vm);
  }
  let t = 0;
  while (ksm.counters().fullScans < 3) ksm.advance((t += 1e9));
  const c = ksm.counters();

  // Independently: the loaded pages of the files, grouped by bytes. Only file-backed pages are in
  // guest memory here (bss is never touched), and every non-zero page is file-backed.
  const stats = comparePages(aligned.map((i) => readLoadedImage(i.elf, { objDir: i.objDir })));
  let zeroFileBacked = 0;
  for (const img of images) for (const fp of img.copyPages.fingerprint) if (fp === 0) zeroFileBacked++;
  const expected = stats.mergeable + sharingOf(zeroFileBacked, KSM_DEFAULTS.maxPageSharing);
  assert.ok(stats.mergeable > 0, 'aligned images share library pages');
  assert.equal(c.pagesSharing, expected);
  assert.equal(c.pagesVolatile, 0);
});

it('dedup-faas builds its notes from the run\'s own figures: another preset gives another note', () => {
  const set = faasSet();
  const base = { ...dedupFaasExperiment.defaults(true), instances: 4, durationSec: 2, sweepInstancesPerImage: [1, 2], images: [set.dir] };
  const a = dedupFaasExperiment.run(base, { seed: 1, progress: silentProgress });
  const b = dedupFaasExperiment.run({ ...base, vmmOverheadMiB: 5 }, { seed: 1, progress: silentProgress });
  assert.equal(a.summary.distinctImages, 4);
  assert.ok(Number(a.summary.imagePagesPerInstance) > 100, 'real-library images hold hundreds of pages');
  const note = (r: typeof a, metric: string): string => r.comparisons.find((c) => c.metric === metric)!.note;
  const m = 'memory, no sharing / pool loader';
  assert.notEqual(note(a, m), note(b, m));
  assert.match(note(a, m), /4 instances of 4 distinct images/);
  assert.ok(note(a, m).includes(`${base.vmmOverheadMiB} MiB VMM overhead`), note(a, m));
  assert.match(note(b, m), /5 MiB VMM overhead/);
  assert.notEqual(a.summary.poolVsNoSharing, b.summary.poolVsNoSharing);
  // The sweep: 2 instances per image run 2 distinct images.
  const sweep = a.tables.find((t) => t.name === 'sweep')!;
  assert.deepEqual(sweep.rows.map((r) => [r[0], r[1]]), [[1, 4], [2, 2]]);
});
