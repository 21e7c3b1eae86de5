import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../src/base/errors.ts';
import { memorySystem } from '../../src/base/system.ts';
import { main } from '../../src/cli/main.ts';
import { buildPool, loadDescription, readDescription, readPoolEntry } from '../../src/image/index.ts';
import { readElf } from '../../src/image/elf.ts';
import { loadPages } from '../../src/image/pages.ts';
import { tempDir } from '../fixtures/cli.ts';
import { demoSet } from './demo-set.ts';

const { dir: tmp, cleanup } = tempDir('unimem-pool-test-');
after(cleanup);
const fresh = (): string => fs.mkdtempSync(path.join(tmp, 'pool-'));

test('pool round trip: description + pool + private remainder rebuild the loaded image byte for byte', () => {
  const m = demoSet();
  const pool = fresh();
  const elfs = m.images.filter((i) => i.variant === 'aligned' || (i.variant === 'aligned-aslr' && i.name === 'nginx')).map((i) => i.elf);
  const r = buildPool(pool, elfs);
  assert.equal(r.images.length, elfs.length);
  r.images.forEach((img) => {
    const original = loadPages(readElf(img.elf));
    const rebuilt = loadDescription(img.description);
    assert.deepEqual([...rebuilt.keys()], [...original.keys()], img.elf);
    for (const [va, bytes] of original) assert.ok(Buffer.from(bytes).equals(Buffer.from(rebuilt.get(va)!)), `${img.elf} page 0x${va.toString(16)}`);
  });
  // Libraries common to all aligned images are stored once.
  const musl = r.images.filter((i) => !i.elf.includes('aslr')).map((i) => readDescription(i.description).shared.find((s) => s.library === 'musl')!.entry);
  assert.equal(new Set(musl).size, 1);
  // ASLR instances reuse the entries of libraries whose read-only data holds no address (the
  // scheduler here) at other addresses.
  const aslr = r.images.filter((i) => i.elf.includes('aslr')).map((i) => readDescription(i.description));
  const sched = aslr.map((d) => d.shared.find((s) => s.library === 'uksched')!);
  assert.equal(new Set(sched.map((s) => s.entry)).size, 1);
  // Descriptions of a set's images record the real libraries with their Debian versions.
  assert.ok(aslr[0].libraries!.some((l) => l.name === 'lwip' && /2\.1\.3/.test(l.version)));
  assert.ok(aslr.every((d) => d.private.some((p) => p.name.startsWith('.ind.'))));
  // Entries are never rewritten: a second run writes nothing.
  assert.equal(buildPool(pool, elfs).written, 0);
});

test('descriptions carry page fingerprints and sizes that match the pool', () => {
  const m = demoSet();
  const pool = fresh();
  const r = buildPool(pool, m.images.filter((i) => i.variant === 'aligned').slice(0, 3).map((i) => i.elf));
  const d = readDescription(r.images[0].description);
  for (const s of d.shared) {
    assert.equal(readPoolEntry(pool, s.entry).length, s.size);
    assert.equal(s.pages.length, s.size / 4096);
  }
});

test('a corrupted pool entry is reported clearly, with exit code 2', async () => {
  const m = demoSet();
  const pool = fresh();
  const elfs = m.images.filter((i) => i.variant === 'aligned').slice(0, 2).map((i) => i.elf);
  const r = buildPool(pool, elfs);
  const d = readDescription(r.images[0].description);
  const entry = path.join(pool, 'entries', d.shared[0].entry);
  const bytes = fs.readFileSync(entry);
  bytes[100] ^= 0xff;
  fs.writeFileSync(entry, bytes);
  assert.throws(() => loadDescription(r.images[0].description), (e) => e instanceof InputError && /corrupt pool entry/.test(e.message));
  const sys = memorySystem();
  assert.equal(await main(['image', 'pool', ...elfs, '--pool', pool], sys), 2);
  assert.match(sys.stderr.join(''), /^unimem: .*entries.*: corrupt pool entry/);
});

test('a malformed description is an InputError naming the file and field', () => {
  const m = demoSet();
  const pool = fresh();
  const r = buildPool(pool, m.images.filter((i) => i.variant === 'aligned').slice(0, 2).map((i) => i.elf));
  const file = r.images[0].description;
  const d = JSON.parse(fs.readFileSync(file, 'utf8'));
  d.shared[0].vaddr = 123;
  fs.writeFileSync(file, JSON.stringify(d));
  assert.throws(() => readDescription(file), (e) => e instanceof InputError && e.message.includes(file) && /shared\.0\.vaddr/.test(e.message));
  fs.writeFileSync(file, '{ not json');
  assert.throws(() => readDescription(file), InputError);
});
