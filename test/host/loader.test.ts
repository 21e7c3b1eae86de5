/** Loaders (src/host/loader.ts): standard copy loader and the load-time pool loader. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { contentFingerprint } from '../../src/base/hash.ts';
import { MiB, PAGE_4K } from '../../src/base/units.ts';
import { checkPoolInvariants, FrameFlag, HostBackend, LibraryPool, loadCopy, loadFromPool, pageList, poolImage } from '../../src/host/index.ts';

const host = (): HostBackend => new HostBackend({ tiers: [{ tier: 'ddr4', bytes: MiB(128) }], variant: 'baseline', policy: { hugeBacking: 'never' } });
const newVm = (b: HostBackend) => b.createVmWithRegions([{ gpaStart: 0, bytes: MiB(4), tier: -1, hugeBacking: false }]);
const pages = (base: number, fps: number[]) => pageList(fps.map((fp, i) => ({ gpa: base + i * PAGE_4K, fingerprint: fp })));

describe('loaders', () => {
  it('the standard loader copies every page into private frames', () => {
    const b = host();
    const vm = newVm(b);
    const r = loadCopy(vm, pages(0x100000, [1, 2, 3]), b.costs);
    assert.equal(r.pagesCopied, 3);
    assert.equal(vm.contentOf(0x101000), 2);
    assert.equal(b.memory.owner(vm.frameOf(0x100000)), vm.id);
    b.checkInvariants();
  });

  it("the pool loader's memory equals the count worked out by hand", () => {
    // Pool: libc (3 pages), net (2 pages). Image A maps libc + net and has 2 private data pages;
    // image B maps libc only and has 1 private page. 3 VMs: A, A, B.
    // Hand count: pool 5 frames, private 2 + 2 + 1 = 5 frames, EPT tables: 1 root + PDPT + PD + PT = 4 per VM (all pages
    // lie in one 2 MiB range) -> 5 + 5 + 12 = 22 frames.
    const b = host();
    const pool = new LibraryPool(b.memory);
    pool.addEntry('libc', [11, 12, 13]);
    pool.addEntry('net', [21, 22]);
    const imgA = poolImage(pool, [{ gpa: 0x100000, entry: 'libc' }, { gpa: 0x103000, entry: 'net' }], pages(0x105000, [contentFingerprint(1, 0, 0), contentFingerprint(1, 0, 1)]));
    const imgB = poolImage(pool, [{ gpa: 0x100000, entry: 'libc' }], pages(0x103000, [contentFingerprint(2, 0, 0)]));
    const vms = [newVm(b), newVm(b), newVm(b)];
    const ra = loadFromPool(vms[0], imgA, b.costs);
    loadFromPool(vms[1], imgA, b.costs);
    const rb = loadFromPool(vms[2], imgB, b.costs);
    assert.deepEqual([ra.pagesMapped, ra.pagesCopied, rb.pagesMapped, rb.pagesCopied], [5, 2, 3, 1]);
    assert.equal(b.memory.allocatedFrames, 22);
    assert.equal(pool.frames, 5);
    assert.equal(vms[0].frameOf(0x100000), vms[2].frameOf(0x100000));
    assert.ok(b.memory.flags(vms[0].frameOf(0x100000)) & FrameFlag.Pool);
    assert.equal(vms[0].counters.tlbFlushes, 0, 'mapping empty guest memory needs no flush');
    b.checkInvariants();
    checkPoolInvariants(b);
  });

  it('pool pages are never writable by two VMs: a write gets a private copy, the pool frame stays', () => {
    const b = host();
    const pool = new LibraryPool(b.memory);
    pool.addEntry('lib', [5, 6]);
    const img = poolImage(pool, [{ gpa: 0x100000, entry: 'lib' }], pages(0x102000, []));
    const vms = [newVm(b), newVm(b)];
    for (const v of vms) loadFromPool(v, img, b.costs);
    const shared = vms[0].frameOf(0x100000);
    vms[0].eptViolation(0x100000, true);
    vms[0].setContent(0x100000, 99);
    assert.notEqual(vms[0].frameOf(0x100000), shared);
    assert.equal(vms[1].frameOf(0x100000), shared);
    assert.equal(b.memory.fingerprint(shared), 5);
    checkPoolInvariants(b);
    b.destroyVm(vms[1]);
    assert.ok(b.memory.isAllocated(shared), 'the pool keeps its page when the last VM goes');
    b.destroyVm(vms[0]);
    pool.release();
    assert.equal(b.memory.allocatedFrames, 0);
  });

  it('pool pages stay read-only and shared under any writes; memory is pool + private + copied-on-write + tables', () => {
    // Pool of up to 4 entries; each image maps a subset of them back to back from 0x100000 and has
    // a few private pages after them; VMs load random images and write random pages. Everything
    // lies in the first 2 MiB of guest-physical memory, so each VM has at most 4 EPT table pages.
    const setup = fc.record({
      entries: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }),
      images: fc.array(fc.record({ uses: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), privatePages: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 3 }),
      vms: fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
      writes: fc.array(fc.record({ vm: fc.nat(), page: fc.nat(), value: fc.nat({ max: 3 }) }), { maxLength: 30 }),
    });
    fc.assert(
      fc.property(setup, ({ entries, images, vms: picks, writes }) => {
        const b = host();
        const pool = new LibraryPool(b.memory);
        entries.forEach((n, e) => pool.addEntry(`lib${e}`, Array.from({ length: n }, (_, i) => contentFingerprint(50, e, i))));
        const imgs = images.map((im, j) => {
          const shared: { gpa: number; entry: string }[] = [];
          let gpa = 0x100000;
          entries.forEach((n, e) => {
            if (!im.uses[e]) return;
            shared.push({ gpa, entry: `lib${e}` });
            gpa += n * PAGE_4K;
          });
          const priv = pages(gpa, Array.from({ length: im.privatePages }, (_, i) => contentFingerprint(60, j, i)));
          return { img: poolImage(pool, shared, priv), end: gpa + im.privatePages * PAGE_4K };
        });
        const vms = picks.map((pick) => {
          const vm = newVm(b);
          const { img } = imgs[pick % imgs.length];
          loadFromPool(vm, img, b.costs);
          return { vm, img: imgs[pick % imgs.length] };
        });
        const poolFp = new Map<number, number>();
        for (let e = 0; e < entries.length; e++) for (const f of pool.framesOf(`lib${e}`)) poolFp.set(f, b.memory.fingerprint(f));
        const copied = new Set<string>();
        for (const w of writes) {
          const v = vms[w.vm % vms.length];
          const n = (v.img.end - 0x100000) / PAGE_4K;
          if (n === 0) continue;
          const gpa = 0x100000 + (w.page % n) * PAGE_4K;
          const wasPool = (b.memory.flags(v.vm.frameOf(gpa)) & FrameFlag.Pool) !== 0;
          v.vm.eptViolation(gpa, true);
          v.vm.setContent(gpa, contentFingerprint(70, w.value, 0));
          if (wasPool) copied.add(`${v.vm.id}:${gpa}`);
          assert.equal(b.memory.owner(v.vm.frameOf(gpa)), v.vm.id, 'a written page is private to its writer');
          checkPoolInvariants(b);
        }
        // No pool frame ever changed content, and none is mapped writable (checkPoolInvariants).
        for (const [f, fp] of poolFp) assert.equal(b.memory.fingerprint(f), fp);
        const privatePages = vms.reduce((t, v) => t + v.img.img.private.gpa.length, 0);
        // EPT tables: the root always, plus PDPT, PD and PT once anything is mapped.
        const tables = vms.reduce((t, v) => t + (v.img.end > 0x100000 ? 4 : 1), 0);
        assert.equal(b.memory.allocatedFrames, pool.frames + privatePages + copied.size + tables);
        b.checkInvariants();
      }),
      { numRuns: 80 },
    );
  });
});

