/**
 * Memory snapshots and the page-by-page classification (no KVM needed): the snapshot format and
 * its refusals, the fingerprint of a page hash (the simulator's, src/base/hash.ts), every page
 * class on a hand-counted case of two images with two instances each, the address ranges of the
 * attribution, and the boot profile a classification gives.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { xxh64 } from '@node-rs/xxhash';
import { fingerprintBytes } from '../../src/base/hash.ts';
import { isUserError } from '../../src/base/errors.ts';
import { checkBootProfile, readBootProfile } from '../../src/experiments/dedup/boot-profile.ts';
import { regionOf, type ImageLayout } from '../../src/realhost/attribution.ts';
import { profileImage, sharedContents } from '../../src/realhost/profile.ts';
import { classifyPages, countClasses, sharedSlots, fingerprintOfHash, parseSnapshot, type InstanceSnapshots, type Snapshot } from '../../src/realhost/snapshot.ts';

const hex = (h: bigint): string => h.toString(16).padStart(16, '0');
const ZERO = hex(xxh64(new Uint8Array(4096)));
/** A page of bytes all `b` and its hash as the VMM writes it. */
const page = (b: number): string => hex(xxh64(new Uint8Array(4096).fill(b)));

/** A snapshot from lines "<gpn> <kind> <hash>". */
function snap(moment: string, lines: string[]): Snapshot {
  return parseSnapshot([`unimem-vmm snapshot moment=${moment} pages=64 present=${lines.length}`, ...lines].join('\n') + '\n', `${moment}.snap`);
}

describe('VMM memory snapshots', () => {
  it('parses a snapshot and gives the simulator\'s fingerprints (zero page 0, else 53 bits of XXH64)', () => {
    const s = snap('boot', [`1 a ${ZERO}`, `2 a ${page(7)}`, `3 f ${page(9)}`, `5 r ${ZERO}`]);
    assert.equal(s.moment, 'boot');
    assert.equal(s.pages, 64);
    assert.deepEqual([...s.present.keys()], [1, 2, 3, 5]);
    assert.deepEqual(s.present.get(1), { kind: 'private', fingerprint: 0 });
    assert.equal(s.present.get(2)!.fingerprint, fingerprintBytes(new Uint8Array(4096).fill(7)));
    assert.equal(s.present.get(3)!.kind, 'pool');
    assert.equal(s.present.get(5)!.kind, 'read');
    assert.equal(fingerprintOfHash(xxh64(new Uint8Array(4096).fill(1))), fingerprintBytes(new Uint8Array(4096).fill(1)));
  });

  it('refuses a malformed snapshot in one line naming the file and the line', () => {
    const bad = (text: string, re: RegExp): void => {
      assert.throws(() => parseSnapshot(text, 'x.snap'), (e: unknown) => isUserError(e) && re.test((e as Error).message) && !(e as Error).message.includes('\n'));
    };
    bad('hello\n', /^x\.snap: line 1: not a unimem-vmm snapshot header$/);
    bad(`unimem-vmm snapshot moment=boot pages=4 present=2\n1 a ${ZERO}\n`, /^x\.snap: the header says 2 present pages, the file lists 1$/);
    bad(`unimem-vmm snapshot moment=boot pages=4 present=1\n1 q ${ZERO}\n`, /^x\.snap: line 2: expected/);
    bad(`unimem-vmm snapshot moment=boot pages=4 present=2\n2 a ${ZERO}\n1 a ${ZERO}\n`, /^x\.snap: line 3: page 0x1 out of order/);
    bad(`unimem-vmm snapshot moment=boot pages=4 present=1\n9 a ${ZERO}\n`, /^x\.snap: line 2: page 0x9 out of order or beyond 4 pages$/);
  });

  it('classifies every page class on a hand-counted case of two images, two instances each', () => {
    // Image A: page 1 loaded and unchanged; 2 zeroed at boot; 3 same content in both instances,
    // also found in image B (page 9 there); 4 same in both, nowhere else; 5 per instance; 6 in
    // one instance only; 7 a pool page; 8 read but never written (the kernel's zero page).
    const loadA = [`1 a ${page(1)}`, `7 f ${page(70)}`];
    const a1: InstanceSnapshots = { image: 'A', load: snap('load', loadA), boot: snap('boot', [`1 a ${page(1)}`, `2 a ${ZERO}`, `3 a ${page(3)}`, `4 a ${page(4)}`, `5 a ${page(51)}`, `6 a ${page(6)}`, `7 f ${page(70)}`, `8 r ${ZERO}`]) };
    const a2: InstanceSnapshots = { image: 'A', load: snap('load', loadA), boot: snap('boot', [`1 a ${page(1)}`, `2 a ${ZERO}`, `3 a ${page(3)}`, `4 a ${page(4)}`, `5 a ${page(52)}`, `7 f ${page(70)}`, `8 r ${ZERO}`]) };
    // Image B: page 1 loaded with 1, then written with 10 at boot in both instances (image content).
    const loadB = [`1 a ${page(1)}`];
    const b1: InstanceSnapshots = { image: 'B', load: snap('load', loadB), boot: snap('boot', [`1 a ${page(10)}`, `9 a ${page(3)}`]) };
    const b2: InstanceSnapshots = { image: 'B', load: snap('load', loadB), boot: snap('boot', [`1 a ${page(10)}`, `9 a ${page(3)}`]) };
    const c = classifyPages([a1, a2, b1, b2]);
    assert.deepEqual(
      c.get('A')!.map((p) => [p.gpn, p.cls]),
      [[1, 'loaded'], [2, 'zero'], [3, 'common'], [4, 'image'], [5, 'instance'], [6, 'partial'], [7, 'pool']],
    );
    assert.deepEqual(c.get('B')!.map((p) => [p.gpn, p.cls]), [[1, 'image'], [9, 'common']]);
    assert.deepEqual(countClasses(c.get('A')!), { absent: 0, loaded: 1, pool: 1, zero: 1, image: 1, common: 1, instance: 1, partial: 1 });
    // Contents held by more than one VM (KSM's candidates): 1 (A's loaded page, both A VMs), 3
    // (four VMs), 4 (both A VMs), 10 (both B VMs); the pool page and zero pages are not counted.
    assert.equal(sharedContents([a1, a2, b1, b2]), 4);
    // The profile of A: what boot wrote beyond the loader, with the shared content's fingerprint.
    const prof = profileImage(path.join(import.meta.dirname, 'snapshot.test.ts'), 'A', { name: 'x', variant: 'compact', loader: 'copy', ksm: false }, c.get('A')!);
    assert.deepEqual(prof.pages.map(([g, k, fp]) => [g, k, fp === 0 ? 0 : 'fp']), [[2, 'zero', 0], [3, 'shared', 'fp'], [4, 'shared', 'fp'], [5, 'instance', 0], [6, 'instance', 0]]);
    assert.equal(prof.pages[1][2], fingerprintBytes(new Uint8Array(4096).fill(3)));
  });

  it('keeps the contents of per-instance pages that other VMs hold too (the Lua heap of one boot second)', () => {
    const held = new Map([[5, 2], [7, 2], [9, 1]]);
    const count = (fp: number): number => held.get(fp) ?? 1;
    assert.equal(sharedSlots([9, 6, 8], count), null);
    assert.deepEqual(sharedSlots([5, 5, 7, 7], count), [5, 5, 7, 7]);
    assert.deepEqual(sharedSlots([5, 5, 9], count), [5, 5, 0]);
    // Image C, four instances: page 4 holds 1, 1, 2, 2 (two seconds); page 5 holds 11, 11, 12, 40.
    // Image D, one instance, holds 12 at page 8: C's third instance shares page 5 with D.
    const load = snap('load', []);
    const c = ([[1, 11], [1, 11], [2, 12], [2, 40]] as const).map(([x, y]): InstanceSnapshots => ({ image: 'C', load, boot: snap('boot', [`4 a ${page(x)}`, `5 a ${page(y)}`]) }));
    const d: InstanceSnapshots = { image: 'D', load, boot: snap('boot', [`8 a ${page(12)}`]) };
    const cls = classifyPages([...c, d]).get('C')!;
    const fp = (b: number): number => fingerprintBytes(new Uint8Array(4096).fill(b));
    assert.deepEqual(cls.map((p) => [p.gpn, p.cls, p.slots]), [[4, 'instance', [fp(1), fp(1), fp(2), fp(2)]], [5, 'instance', [fp(11), fp(11), fp(12), 0]]]);
    const prof = profileImage(path.join(import.meta.dirname, 'snapshot.test.ts'), 'C', { name: 'x', variant: 'compact', loader: 'copy', ksm: false }, cls);
    assert.deepEqual(prof.pages, [[4, 'instance', 0, [fp(1), fp(1), fp(2), fp(2)]], [5, 'instance', 0, [fp(11), fp(11), fp(12), 0]]]);
  });

  it('attributes addresses to the VMM\'s structures, the image\'s sections, the boot work, the heap, mmap and the user stack', () => {
    const l: ImageLayout = {
      readOnly: [[0x100000, 0x180000]],
      data: [[0x180000, 0x182000]],
      bss: [[0x181000, 0x1a0000]],
      kstack: [[0x182000, 0x186000]][0] as [number, number],
      bootWork: [0x1a0000, 0x1f0000],
      mmapLow: 0xfc0000,
      memTop: 0x1000000,
    };
    const at = (gpa: number): string => regionOf(l, gpa);
    assert.equal(at(0x0), 'VMM: GDT and IDT');
    assert.equal(at(0x7000), 'VMM: boot parameters (zero page)');
    assert.equal(at(0xb000), 'VMM: page tables');
    assert.equal(at(0x20000), 'VMM: command line');
    assert.equal(at(0x50000), 'low memory, other');
    assert.equal(at(0x100000), 'image: text and read-only data');
    assert.equal(at(0x181000), 'image: data'); // data and bss share the page: the loader copies it
    assert.equal(at(0x185000), 'platform: CPL0 stack (bss)');
    assert.equal(at(0x186000), 'image: bss, other');
    assert.equal(at(0x1ef000), 'model: boot work (heapInitKiB + stackKiB)');
    assert.equal(at(0x1f0000), 'application: heap (brk)');
    assert.equal(at(0xfbf000), 'application: anonymous mmap (C library malloc)');
    assert.equal(at(0xfff000), 'platform: initial user stack');
  });

  it('refuses a malformed boot profile in one line naming the file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-profile-test-'));
    try {
      const file = path.join(dir, 'p.json');
      const good = { magic: 'unimem-boot-profile', version: 1, memMiB: 16, bootWorkKiB: 320, instances: 3, images: [{ name: 'f', variant: 'compact', loader: 'copy', elfKey: '0123456789abcdef', pages: [[1, 'zero', 0], [2, 'shared', 12345]] }] };
      fs.writeFileSync(file, JSON.stringify(good));
      assert.equal(readBootProfile(file).images[0].pages.length, 2);
      const refuse = (value: unknown, re: RegExp): void => {
        assert.throws(() => checkBootProfile(value, file), (e: unknown) => isUserError(e) && re.test((e as Error).message));
      };
      refuse({}, /p\.json: not a boot profile/);
      refuse({ ...good, memMiB: -1 }, /'memMiB' is not a non-negative integer/);
      refuse({ ...good, version: 0 }, /p\.json: boot profile version 0, this unimem reads version 1: measure it again/);
      refuse({ ...good, images: [{ ...good.images[0], loader: 'nfs' }] }, /images\[0\]: needs name, variant, loader/);
      refuse({ ...good, images: [{ ...good.images[0], pages: [[2, 'zero', 0], [1, 'zero', 0]] }] }, /images\[0\]\.pages\[1\]: expected/);
      refuse({ ...good, images: [{ ...good.images[0], pages: [[4096, 'zero', 0]] }] }, /images\[0\]\.pages\[0\]: expected \[page number \(ascending, inside 16 MiB\)/);
      refuse({ ...good, images: [{ ...good.images[0], pages: [[1, 'zero', 0, [0, 0]]] }] }, /images\[0\]\.pages\[0\]: expected/);
      refuse({ ...good, images: [{ ...good.images[0], pages: [[1, 'instance', 0, [-1]]] }] }, /images\[0\]\.pages\[0\]: expected/);
      assert.equal(checkBootProfile({ ...good, images: [{ ...good.images[0], pages: [[1, 'instance', 0, [0, 0, 1]]] }] }, file).images[0].pages[0].length, 4);
      fs.writeFileSync(file, '{');
      assert.throws(() => readBootProfile(file), /p\.json: not JSON/);
      assert.throws(() => readBootProfile(path.join(dir, 'none.json')), /none\.json: cannot read \(ENOENT\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
