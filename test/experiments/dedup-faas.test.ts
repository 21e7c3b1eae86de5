/**
 * The dedup-faas model (src/experiments/dedup/faas.ts) against counts worked out from the images:
 * what each configuration holds is exactly the pages it should, so the small sharing ratios of the
 * experiment come from the model's proportions, not from pages left unshared or counted twice.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { PAGE_2M, PAGE_4K } from '../../src/base/units.ts';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { runSharingConfig, SHARING_CONFIGS, type ConfigRun } from '../../src/experiments/dedup/faas.ts';
import { prepareImages, type PreparedImage } from '../../src/experiments/dedup/images.ts';
import { BOOT_TABLE_GPA, BOOT_TABLE_PAGES, bootTableFingerprint } from '../../src/experiments/dedup/cores.ts';

const INSTANCES = 6;
// Same images as `run dedup-faas --quick` (20 applications, one ASLR image each, seed 1), so the demo cache is reused.
const set = prepareImages(20, 1, 1, ['compact', 'aligned', 'aligned-aslr']);
const defaults = faasDefaults();
// No invocations in 3 s (checked below), so every VM holds only what load and boot put there.
const model = faasModelOf({ ...defaults, instances: INSTANCES, durationSec: 3, invocationsPerSecond: 0.001 });
const initPages = Math.ceil((defaults.heapInitKiB + defaults.stackKiB) / 4);
const vmmBytes = INSTANCES * defaults.vmmOverheadMiB * 1048576;

function run(name: string): ConfigRun {
  const r = runSharingConfig(set, SHARING_CONFIGS.find((c) => c.name === name)!, model, new Rng(1).fork(name));
  assert.equal(r.started, INSTANCES);
  assert.equal(r.invocations, 0, 'precondition: no invocation in the window');
  return r;
}

/** EPT table pages of a VM whose guest pages lie in `gpas` (all below 1 GiB): root, PDPT, PD, one PT per 2 MiB range. */
function tables(gpas: Iterable<number>): number {
  const ranges = new Set<number>();
  for (const g of gpas) ranges.add(Math.floor(g / PAGE_2M));
  return 3 + ranges.size;
}

/** The VMM's boot page tables (PML4, PDPT, PD), in every VM. */
const bootTables = Array.from({ length: BOOT_TABLE_PAGES }, (_, k) => BOOT_TABLE_GPA + k * PAGE_4K);

/** Guest pages of instance i: image pages (given), boot page tables, bss, heap and stack after the image. */
function guestPages(img: PreparedImage, imagePages: Iterable<number>): number[] {
  const heap = Math.ceil(img.imageEnd / PAGE_4K) * PAGE_4K;
  return [...imagePages, ...bootTables, ...img.zeroPages, ...Array.from({ length: initPages }, (_, k) => heap + k * PAGE_4K)];
}

describe('dedup-faas model', () => {
  it('no sharing holds every image, boot page table, bss, heap and stack page of every VM, plus EPT tables and the VMM overhead', () => {
    const r = run('no sharing');
    const imgs = set.byVariant.get('compact')!;
    let frames = 0;
    for (let i = 0; i < INSTANCES; i++) {
      const img = imgs[i % imgs.length];
      const pages = guestPages(img, img.copyPages.gpa);
      frames += new Set(pages).size + tables(pages);
    }
    assert.equal(r.endBytes, frames * PAGE_4K + vmmBytes);
  });

  it('the pool loader holds each pool page once and only private, bss, heap and stack pages per VM', () => {
    for (const [name, variant] of [['pool loader', 'aligned'], ['pool loader + ASLR', 'aligned-aslr']] as const) {
      const r = run(name);
      const imgs = set.byVariant.get(variant)!;
      // The pool is built from every image of the variant, mapped or not (files in /dev/shm); each
      // VM adds its private sections (copied), its bss, heap and stack, and its tables.
      const copied = Math.round(r.loadPagesCopied * INSTANCES);
      const mapped = Math.round(r.loadPagesMapped * INSTANCES);
      assert.ok(mapped > copied, `${name}: most image pages are mapped from the pool, not copied`);
      let frames = r.poolPages + copied;
      for (let i = 0; i < INSTANCES; i++) {
        const img = imgs[i % imgs.length];
        frames += new Set(guestPages(img, [])).size + tables(guestPages(img, img.copyPages.gpa));
      }
      assert.equal(r.endBytes, frames * PAGE_4K + vmmBytes, name);
    }
  });

  it('compact images with KSM, converged: the saving equals the duplicate pages, in KSM pages of max_page_sharing mappings', () => {
    const r = run('compact + KSM');
    const imgs = set.byVariant.get('compact')!;
    const copies = new Map<number, number>();
    let frames = 0;
    for (let i = 0; i < INSTANCES; i++) {
      const img = imgs[i % imgs.length];
      for (const fp of img.copyPages.fingerprint) copies.set(fp, (copies.get(fp) ?? 0) + 1);
      // bss is zero, but for the CPL0 stack pages, which hold the image's frame of the system call that ends boot.
      const stack = img.invocationStack;
      copies.set(0, (copies.get(0) ?? 0) + img.zeroPages.length - stack.pages.length);
      for (const fp of stack.fingerprints) copies.set(fp, (copies.get(fp) ?? 0) + 1);
      // The boot page tables: the same bytes in every VM.
      for (let k = 0; k < BOOT_TABLE_PAGES; k++) copies.set(bootTableFingerprint(k), (copies.get(bootTableFingerprint(k)) ?? 0) + 1);
      // Heap and stack hold per-instance content: never merged.
      frames += initPages + tables(guestPages(img, img.copyPages.gpa));
    }
    // n copies of one content: full KSM pages of m mappings, one more for a remainder of 2 or
    // more, and a remainder of 1 left alone (the zero-filled bss pages of six VMs already exceed 256).
    const m = defaults.maxPageSharing;
    for (const n of copies.values()) frames += Math.floor(n / m) + (n % m >= 2 ? 1 : 0) + (n % m === 1 ? 1 : 0);
    assert.ok(r.converged);
    assert.equal(r.converged.ksm.pagesVolatile, 0, 'frozen VMs: nothing changes between the last two scans');
    assert.equal(r.converged.endBytes, frames * PAGE_4K + vmmBytes);
  });
});
