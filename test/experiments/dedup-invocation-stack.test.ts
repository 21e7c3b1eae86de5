/**
 * The CPL0 stack pages a FaaS invocation writes (src/experiments/dedup/invocation-stack.ts): the
 * prologue decoder on hand-written bytes, the pages read from the built images, and, hand-counted,
 * a stack page that KSM merges between invocations, each invocation breaks and ksmd merges again.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contentFingerprint } from '../../src/base/hash.ts';
import { MiB, PAGE_4K } from '../../src/base/units.ts';
import { Rng } from '../../src/base/rng.ts';
import { HostBackend, Ksm, type HostVm } from '../../src/host/index.ts';
import { readElf } from '../../src/image/elf.ts';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { runSharingConfig, SHARING_CONFIGS } from '../../src/experiments/dedup/faas.ts';
import { prepareImages, type ImageSet } from '../../src/experiments/dedup/images.ts';
import { invocationStackDepth, KSTACK_SYMBOL, prologueBytes, rewriteStackPages, USER_RSP_SYMBOL } from '../../src/experiments/dedup/invocation-stack.ts';

// Same images as `run dedup-faas --quick` (20 applications, one ASLR image each, seed 1), so the demo cache is reused.
const set = prepareImages(20, 1, 1, ['compact', 'aligned', 'aligned-aslr']);

describe('the CPL0 stack pages of an invocation', () => {
  it('decodes a prologue: pushes, then sub $imm8 or $imm32 from %rsp; anything else ends it', () => {
    assert.equal(prologueBytes(Uint8Array.from([0x55, 0x53, 0x48, 0x83, 0xec, 0x30, 0x48, 0x89, 0xfa])), 2 * 8 + 0x30, 'push %rbp; push %rbx; sub $0x30,%rsp (the handler in these images)');
    assert.equal(prologueBytes(Uint8Array.from([0xf3, 0x0f, 0x1e, 0xfa, 0x41, 0x57, 0x41, 0x56, 0x55, 0x48, 0x81, 0xec, 0x00, 0x01, 0x00, 0x00])), 3 * 8 + 256, 'endbr64; push %r15; push %r14; push %rbp; sub $0x100,%rsp');
    assert.equal(prologueBytes(Uint8Array.from([0x41, 0x54, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x10])), 8, 'a mov ends the prologue before the sub');
    assert.equal(prologueBytes(Uint8Array.from([0x48, 0x83, 0xec])), 0, 'a truncated sub counts nothing');
  });

  it('takes from every image the page of ukplat_kvm_user_rsp and the pages from the top of ukplat_kvm_kstack down to the handler frame', () => {
    for (const [variant, imgs] of set.byVariant) {
      for (const img of imgs) {
        const elf = readElf(img.elf);
        const stack = elf.symbols.find((s) => s.name === KSTACK_SYMBOL)!;
        const top = stack.value + stack.size;
        const depth = invocationStackDepth(elf);
        // kvm.c's entry: 8 registers and the return address; the handler's frame is its own.
        assert.ok(depth > 72 && depth < 1024, `${variant} ${img.name}: depth ${depth}`);
        const first = Math.floor((top - depth) / PAGE_4K) * PAGE_4K;
        const rsp = elf.symbols.find((s) => s.name === USER_RSP_SYMBOL)!;
        const expected = new Set([Math.floor(rsp.value / PAGE_4K) * PAGE_4K]);
        for (let p = first; p < top; p += PAGE_4K) expected.add(p);
        assert.deepEqual([...img.invocationStack.pages], [...expected].sort((a, b) => a - b), `${variant} ${img.name}: stack top 0x${top.toString(16)}, depth ${depth}`);
        for (const p of expected) assert.ok(img.zeroPages.includes(p), 'the pages are bss pages of the image');
      }
    }
    // The frame's modelled content: the image's own, per page, never zero, and no other image's.
    const all = [...set.byVariant.values()].flat();
    const contents = all.flatMap((img) => [...img.invocationStack.fingerprints]);
    assert.ok(contents.every((fp) => fp !== 0));
    assert.equal(new Set(contents).size, contents.length, 'distinct across pages and images');
    // The compact images' stack lies 16 bytes into a page at both ends: the saved user stack
    // pointer just below its bottom, and a frame that reaches the page below its top.
    const img = set.byVariant.get('compact')![0];
    assert.equal(img.invocationStack.pages.length, 3);
  });

  it('hand-counted: each invocation breaks the merged stack page once and ksmd merges it again on its next pass', () => {
    const b = new HostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(64) }], variant: 'baseline', policy: { hugeBacking: 'never' } });
    const stackPage = 0x3000;
    const pages = Float64Array.of(stackPage);
    // Two instances of one image: their stack page holds the same frame, page 0 differs per instance.
    const vms: HostVm[] = [0, 1].map((i) => {
      const vm = b.createVmWithRegions([{ gpaStart: 0, bytes: MiB(1), tier: -1, hugeBacking: false }]);
      vm.writePage(0, contentFingerprint(i + 1, 0, 1));
      vm.writePage(stackPage, contentFingerprint(0, 7, 7));
      return vm;
    });
    const ksm = new Ksm(b.memory, {});
    for (const vm of vms) ksm.register(vm, 0);
    // 2 VMs x 2 present pages: one batch of 100 is a whole pass. Pass 0 stores checksums, pass 1 merges.
    let t = 0;
    const passes = (n: number): void => {
      const target = ksm.fullScans + n;
      while (ksm.fullScans < target) ksm.advance((t += 4e6));
    };
    passes(2);
    let c = ksm.counters();
    assert.deepEqual([c.pagesShared, c.pagesSharing, c.merges], [1, 1, 1], 'the two stack pages are one KSM page');
    const framesMerged = b.memory.allocatedFrames;
    for (let n = 1; n <= 3; n++) {
      rewriteStackPages(vms[0], pages);
      assert.equal(vms[0].counters.cowBreaks, n, `invocation ${n} broke the copy-on-write once`);
      assert.equal(vms[0].contentOf(stackPage), contentFingerprint(0, 7, 7), 'the frame is the same bytes');
      c = ksm.counters();
      assert.equal(c.pagesSharing, 0, 'after the break nothing is shared');
      assert.equal(b.memory.allocatedFrames, framesMerged + 1, 'the break took one frame');
      passes(1);
      c = ksm.counters();
      assert.deepEqual([c.pagesShared, c.pagesSharing, c.merges], [1, 1, 1 + n], `pass after invocation ${n}: merged again (stable tree hit)`);
      assert.equal(b.memory.allocatedFrames, framesMerged, 'and the copy is freed');
    }
    assert.equal(vms[1].counters.cowBreaks, 0, 'the other instance did not run');
  });

  it('in the FaaS model, only the stack pages break copy-on-write: instances of one image share their frame, merged and broken again', () => {
    const model = faasModelOf({ ...faasDefaults(), instances: 8, durationSec: 12, invocationsPerSecond: 1 });
    const config = SHARING_CONFIGS.find((x) => x.name === 'compact + KSM')!;
    // 8 instances of 2 images: 4 instances hold each image's frame.
    const twoImages = (s: ImageSet, withStack: boolean): ImageSet => ({
      ...s,
      byVariant: new Map([...s.byVariant].map(([v, imgs]) => [v, imgs.slice(0, 2).map((i) => (withStack ? i : { ...i, invocationStack: { pages: new Float64Array(0), fingerprints: new Float64Array(0) } }))])),
    });
    const withStack = runSharingConfig(twoImages(set, true), config, model, new Rng(1).fork('stack'));
    const without = runSharingConfig(twoImages(set, false), config, model, new Rng(1).fork('stack'));
    assert.equal(without.cowBreaks, 0, 'working sets are fresh content, never merged');
    assert.ok(withStack.invocations > 40, `precondition: invocations ran (${withStack.invocations})`);
    // At most one break per stack page per invocation, and some: the frames merge after two passes.
    const stackPages = set.byVariant.get('compact')![0].invocationStack.pages.length;
    assert.ok(withStack.cowBreaks > 0 && withStack.cowBreaks <= withStack.invocations * stackPages, `${withStack.cowBreaks} breaks in ${withStack.invocations} invocations`);
    // No VM exits, so pages_sharing = merges − breaks (as the real runs count it: merges − cow_ksm),
    // except that a break of a KSM page's last mapping frees it without lowering pages_sharing.
    assert.equal(without.ksm!.merges, without.ksm!.pagesSharing);
    const left = withStack.ksm!.pagesSharing - (withStack.ksm!.merges - withStack.cowBreaks);
    assert.ok(left >= 0 && left <= withStack.cowBreaks, `pages_sharing ${withStack.ksm!.pagesSharing}, merges ${withStack.ksm!.merges}, breaks ${withStack.cowBreaks}`);
    assert.ok(withStack.ksm!.merges > without.ksm!.merges, 'the broken stack pages were merged again');
  });
});
