/**
 * The simulator's measured boot (`bssAtBoot: measured`, no KVM needed): a hand-made profile of two
 * images is written exactly (a page shared by every image, one per image, one per instance, one
 * zero; nothing else beyond the loader's pages and the model's boot work), classifying the
 * simulated boots gives the profile's classes back, and a profile for other images or another
 * guest size is refused in one line.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUserError } from '../../src/base/errors.ts';
import { PAGE_4K } from '../../src/base/units.ts';
import { BOOT_PROFILE_MAGIC, BOOT_PROFILE_VERSION, elfKey, type BootProfile } from '../../src/experiments/dedup/boot-profile.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { SHARING_CONFIGS, type FaasModel } from '../../src/experiments/dedup/faas.ts';
import { dedupFaasExperiment, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { simulatedSnapshots } from '../../src/realhost/profile.ts';
import { classifyPages, type PageClass } from '../../src/realhost/snapshot.ts';

describe('measured boot profile in the simulator', () => {
  // Same demo images as the VMM tests (cached).
  const full = prepareImages(20, 1, 1, ['compact']);
  const images = full.byVariant.get('compact')!.slice(0, 2);
  const set = { ...full, byVariant: new Map([['compact' as const, images]]) };
  const config = SHARING_CONFIGS.find((c) => c.name === 'compact + KSM')!;
  const base = faasModelOf({ ...dedupFaasExperiment.defaults(true), bssAtBoot: 'measured' });
  const bootWorkPages = (base.heapInitKiB + base.stackKiB) / 4;
  const heapPage = (i: number): number => Math.ceil(images[i].imageEnd / PAGE_4K);
  // Pages 0x30-0x34: shared by all, per image, per instance, zero, shared by the first two instances
  // instances of every image (7777 in the first two instances, the third its own); and one inside the boot work,
  // which the model writes itself (left out).
  const profile: BootProfile = {
    magic: BOOT_PROFILE_MAGIC,
    version: BOOT_PROFILE_VERSION,
    memMiB: base.vmMemoryMiB,
    bootWorkKiB: base.heapInitKiB + base.stackKiB,
    instances: 3,
    images: images.map((img, i) => ({
      name: img.name,
      variant: 'compact',
      loader: 'copy',
      elfKey: elfKey(img.elf),
      pages: [[0x30, 'shared', 1111], [0x31, 'shared', 2000 + i], [0x32, 'instance', 0], [0x33, 'zero', 0], [0x34, 'instance', 0, [7777, 7777, 0]], [heapPage(i) + 1, 'shared', 3333]],
    })),
  };
  const model = { ...base, bootProfile: profile };

  it('writes exactly the profile\'s pages beside the loader\'s and the boot work, and gives its classes back', () => {
    const snaps = simulatedSnapshots({ set, configs: [config], model }, config, 3, 1, 'dedup-faas');
    assert.equal(snaps.length, 6);
    // Instance slots: VMs 0, 2, 4 run image 0 as its instances 0, 1, 2 (VMs 1, 3, 5 image 1).
    const at34 = snaps.map((s) => s.boot.present.get(0x34)!.fingerprint);
    assert.deepEqual(at34.slice(0, 4), [7777, 7777, 7777, 7777]);
    assert.ok(at34[4] !== 7777 && at34[5] !== 7777 && at34[4] !== at34[5]);
    snaps.forEach((s, k) => {
      const img = images[k % 2];
      assert.equal(s.boot.present.size, img.copyPages.gpa.length + 5 + bootWorkPages, `VM ${k}: loader pages + 5 profiled + boot work, no bss, no page tables`);
      assert.equal(s.boot.present.has(0x9), false);
      assert.equal(s.boot.present.get(0x30)!.fingerprint, 1111);
      assert.equal(s.boot.present.get(0x31)!.fingerprint, 2000 + (k % 2));
      assert.equal(s.boot.present.get(0x33)!.fingerprint, 0);
      assert.notEqual(s.boot.present.get(heapPage(k % 2) + 1)!.fingerprint, 3333, 'the boot work is the model\'s');
    });
    const c = classifyPages(snaps);
    for (const img of images) {
      const cls = new Map<number, PageClass>(c.get(img.elf)!.map((p) => [p.gpn, p.cls]));
      assert.deepEqual([0x30, 0x31, 0x32, 0x33, 0x34].map((g) => cls.get(g)), ['common', 'image', 'instance', 'zero', 'instance']);
      assert.deepEqual(c.get(img.elf)!.find((p) => p.gpn === 0x34)!.slots, [7777, 7777, 0]);
      assert.equal(cls.get(img.copyPages.gpa[0] / PAGE_4K), 'loaded');
    }
    // The modelled convention writes the VMM's page tables and every bss page instead.
    const all = simulatedSnapshots({ set, configs: [config], model: { ...base, bssAtBoot: 'all' } }, config, 1, 1, 'dedup-faas');
    assert.equal(all[0].boot.present.size, images[0].copyPages.gpa.length + images[0].zeroPages.length + 3 + bootWorkPages);
  });

  it('refuses a profile measured on other images or another guest size', () => {
    const refuse = (m: FaasModel, re: RegExp): void => {
      assert.throws(() => simulatedSnapshots({ set, configs: [config], model: m }, config, 1, 1, 'dedup-faas'), (e: unknown) => isUserError(e) && re.test((e as Error).message));
    };
    refuse({ ...model, vmMemoryMiB: 32 }, /bootProfile: measured with 16 MiB of guest memory and 320 KiB of boot work; this run has 32 MiB/);
    refuse({ ...model, bootProfile: { ...profile, images: profile.images.slice(1) } }, /bootProfile: no entry for .*helloworld.*\.elf \(compact, copy loader, key [0-9a-f]{16}\)/);
    refuse({ ...model, bootProfile: null }, /bssAtBoot measured needs a boot profile/);
    // A profile file without the measured convention is a configuration problem.
    assert.deepEqual(dedupFaasExperiment.check!({ ...dedupFaasExperiment.defaults(true), bootProfile: 'p.json' }), { field: 'bootProfile', problem: 'a boot profile is used only with bssAtBoot measured' });
    assert.equal(dedupFaasExperiment.check!({ ...dedupFaasExperiment.defaults(true), bssAtBoot: 'measured', bootProfile: 'p.json' }), undefined);
  });
});
