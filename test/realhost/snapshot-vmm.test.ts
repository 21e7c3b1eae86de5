/**
 * The VMM's memory snapshots on real KVM (`--snapshot PREFIX`): the load snapshot holds exactly the
 * pages the simulator's standard loader copies, with the simulator's fingerprints (the VMM hashes
 * with XXH64 like src/base/hash.ts); the boot snapshot holds the VMM's boot structures and the
 * boot work, the latter different per instance; a snapshot that cannot be written does not stop
 * the guest. Skipped with the reason where KVM is unusable.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PAGE_4K } from '../../src/base/units.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { realHostUnavailable } from '../../src/realhost/check.ts';
import { readSnapshot } from '../../src/realhost/snapshot.ts';
import { bootOnce } from '../../src/realhost/vmm.ts';

const unavailable = realHostUnavailable(['kvm', 'vmm', 'tmpfs /dev/shm']);
const skip = unavailable ? { skip: unavailable } : {};

describe('unimem-vmm --snapshot', skip, () => {
  const set = unavailable ? null : prepareImages(20, 1, 1, ['compact']);
  const img = set?.byVariant.get('compact')!.find((i) => i.name === 'helloworld');
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync('/dev/shm/unimem-test-snapshot-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const boot = (instance: number): string => {
    const prefix = path.join(dir, `vm${instance}`);
    const r = bootOnce({ image: { elf: img!.elf }, memMiB: 16, cmdline: `unimem.instance=${instance} unimem.init_kib=320`, snapshot: prefix });
    assert.equal(r.status, 0, r.messages);
    assert.equal(r.messages, '');
    return prefix;
  };

  it('snapshots the loaded image with the simulator\'s fingerprints, then boot structures and per-instance boot work', () => {
    const [p1, p2] = [boot(1), boot(2)];
    const load = readSnapshot(`${p1}.load`);
    assert.equal(load.moment, 'load');
    assert.equal(load.pages, 4096);
    // Exactly the standard loader's pages, byte for byte as the simulator fingerprints them.
    assert.deepEqual([...load.present.keys()], [...img!.copyPages.gpa].map((g) => g / PAGE_4K));
    img!.copyPages.gpa.forEach((g, k) => assert.equal(load.present.get(g / PAGE_4K)!.fingerprint, img!.copyPages.fingerprint[k], `page 0x${g.toString(16)}`));
    const [b1, b2] = [readSnapshot(`${p1}.boot`), readSnapshot(`${p2}.boot`)];
    // The VMM's page tables (0x9000-0xbfff): present, the same bytes in both instances.
    for (const g of [0x9, 0xa, 0xb]) assert.equal(b1.present.get(g)!.fingerprint, b2.present.get(g)!.fingerprint);
    // The boot work, 320 KiB after the image: present, and different per instance.
    const first = Math.ceil(img!.imageEnd / PAGE_4K);
    for (let g = first; g < first + 80; g++) {
      assert.ok(b1.present.has(g) && b2.present.has(g), `boot work page 0x${g.toString(16)}`);
      assert.notEqual(b1.present.get(g)!.fingerprint, b2.present.get(g)!.fingerprint);
    }
    assert.ok(b1.present.size > load.present.size + 80);
    assert.equal(readSnapshot(`${p1}.end`).moment, 'end');
  });

  it('goes on when a snapshot cannot be written, and says so', () => {
    const r = bootOnce({ image: { elf: img!.elf }, memMiB: 16, snapshot: path.join(dir, 'missing', 'vm') });
    assert.equal(r.status, 0);
    assert.match(r.messages, /^unimem-vmm: snapshot .*missing\/vm\.load: No such file or directory$/m);
    assert.equal(fs.existsSync(path.join(dir, 'missing')), false);
  });
});
