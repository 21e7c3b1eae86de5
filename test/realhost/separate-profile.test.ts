/**
 * The boot profile `run --host both` gives its simulated side by default (measureBootProfile):
 * separate real boots of the description's images under unimem-vmm with snapshots, one entry per
 * image and loader however many configurations share them, as many instances per image as the run
 * boots, accepted by the simulated host's `bssAtBoot: measured`, and nothing left on /dev/shm.
 * Skipped with the reason where KVM or the VMM is unusable.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { elfKey } from '../../src/experiments/dedup/boot-profile.ts';
import { runSharingConfig, SHARING_CONFIGS } from '../../src/experiments/dedup/faas.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { realHostUnavailable } from '../../src/realhost/check.ts';
import type { FaasDescription } from '../../src/realhost/faas.ts';
import { measureBootProfile } from '../../src/realhost/profile.ts';

const unavailable = realHostUnavailable(['root', 'kvm', 'vmm', 'tmpfs /dev/shm']);
const skip = unavailable ? { skip: unavailable } : {};
process.env.UNIMEM_REALHOST_STATE = path.join(os.tmpdir(), `unimem-realhost-test-${process.pid}.json`);

describe('the boot profile of separate boots (run --host both by default)', skip, () => {
  it('profiles each image and loader once from its own boots, and the simulated host writes it', async () => {
    const set = prepareImages(20, 1, 1, ['compact']);
    const hello = set.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const configs = SHARING_CONFIGS.filter((c) => c.name === 'no sharing' || c.name === 'compact + KSM');
    const desc: FaasDescription = { set: { ...set, byVariant: new Map([['compact', [hello]]]) }, configs, model: faasModelOf({ ...faasDefaults(), instances: 3, durationSec: 1, launchPerSecond: 50 }) };
    const leftovers = (): string[] => fs.readdirSync('/dev/shm').filter((f) => f.startsWith('unimem-profile-'));
    const before = leftovers();
    const profile = await measureBootProfile(desc);
    assert.deepEqual(leftovers(), before, 'the boots\' work directory was removed');
    // 3 instances of the one image, as the run would boot them; the two configurations share one entry.
    assert.equal(profile.instances, 3);
    assert.equal(profile.images.length, 1);
    assert.equal(profile.images[0].elfKey, elfKey(hello.elf));
    assert.equal(profile.images[0].loader, 'copy');
    // The boot writes pages beside the loader's: some the same in every instance (bss data, page tables), some per instance.
    const classes = new Set(profile.images[0].pages.map((p) => p[1]));
    assert.ok(classes.has('shared') && classes.has('instance'), `classes ${[...classes].join(', ')}`);
    // The simulated host takes it, and its guests then hold the measured pages instead of every bss page zero-filled.
    const compactKsm = configs.find((c) => c.ksm)!;
    const measured = runSharingConfig(desc.set, compactKsm, { ...desc.model, bssAtBoot: 'measured', bootProfile: profile }, new Rng(1));
    const all = runSharingConfig(desc.set, compactKsm, desc.model, new Rng(1));
    assert.equal(measured.started, 3);
    assert.notEqual(measured.endBytes, all.endBytes);
  });
});
