/**
 * ksmd in the simulated FaaS host, counted by hand: a VM registers when its guest memory is
 * created, before its load (as unimem-vmm marks it mergeable), so the first VM wakes an idle
 * ksmd that completes a full scan of nothing at t = 0, and the next batch comes 6 jiffies later
 * (docs/realhost.md, "ksmd on this machine, scan by scan").
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { bootedInstances, runSharingConfig, SHARING_CONFIGS } from '../../src/experiments/dedup/faas.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { FrameFlag } from '../../src/host/index.ts';

describe('ksmd in the simulated FaaS host', () => {
  it('scans an empty guest at t = 0, then the booted one from 24 ms on, 100 pages per wake', () => {
    const set = prepareImages(20, 1, 1, ['compact']);
    const hello = set.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const one = { ...set, byVariant: new Map([['compact' as const, [hello]]]) };
    const config = SHARING_CONFIGS.find((c) => c.name === 'compact + KSM')!;
    const model = faasModelOf({ ...faasDefaults(), instances: 1, durationSec: 1, invocationsPerSecond: 0.001 });
    // The booted guest's present private pages, from the same boot without KSM running on it.
    const [{ vm, backend }] = bootedInstances(one, config, model, new Rng(1), 1, () => {});
    let pages = 0;
    vm.ept.forEachLeaf((_gpa, frame) => {
      if (!(backend.memory.flags(frame) & FrameFlag.Pool)) pages++;
    });
    const run = runSharingConfig(one, config, model, new Rng(1));
    assert.equal(run.invocations, 0, 'precondition: no invocation changes the guest within the second');
    // Wakes at 24 ms x k (+6 µs), k = 1..41, after the scan of nothing at 0; a scan of `pages` takes `perScan` wakes.
    const perScan = Math.ceil(pages / 100);
    const wakes = 41;
    assert.equal(run.ksm!.fullScans, 1 + Math.floor(wakes / perScan), `${pages} pages`);
    assert.equal(run.ksm!.pagesScanned, pages * Math.floor(wakes / perScan) + 100 * (wakes % perScan));
  });
});
