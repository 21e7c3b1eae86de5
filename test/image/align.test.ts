import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDemoSet, comparePages, readLoadedImage } from '../../src/image/index.ts';
import { readElf, sectionBytes, type ElfFile } from '../../src/image/elf.ts';
import { demoSet, TEST_ASLR_INSTANCES } from './demo-set.ts';

const run = (elf: string): string => execFileSync(elf, [], { encoding: 'utf8', timeout: 10_000 });

test('the demo set has at least 20 applications in every variant, each printing one deterministic line', () => {
  const m = demoSet();
  for (const v of ['compact', 'dce', 'aligned'] as const) assert.ok(m.images.filter((i) => i.variant === v).length >= 20, v);
  const compact = m.images.find((i) => i.variant === 'compact' && i.name === 'dns')!;
  assert.match(run(compact.elf), /^dns: result 0x[0-9a-f]{16} inits \d+\n$/);
  assert.equal(run(compact.elf), compact.output);
});

test('aligned images share strictly more identical pages than compact ones', () => {
  const m = demoSet();
  const stats = (v: string) => comparePages(m.images.filter((i) => i.variant === v && i.instance === 0).map((i) => readLoadedImage(i.elf)));
  const compact = stats('compact');
  const aligned = stats('aligned');
  const dce = stats('dce');
  assert.ok(aligned.mergeable > compact.mergeable, `aligned ${aligned.mergeable} vs compact ${compact.mergeable}`);
  assert.ok(aligned.mergeable > dce.mergeable);
  // Most library code pages become mergeable: far fewer distinct contents remain.
  assert.ok(aligned.distinct * 2 < compact.distinct);
});

function libraryBytes(elf: ElfFile, lib: string): { addr: number; bytes: Buffer } {
  const text = elf.sections.find((s) => s.name === `.text.${lib}`)!;
  const rodata = elf.sections.find((s) => s.name === `.rodata.${lib}`);
  return { addr: text.addr, bytes: Buffer.concat([sectionBytes(elf, text), rodata ? sectionBytes(elf, rodata) : Buffer.alloc(0)]) };
}

test("a library's bytes sit at the same address in every aligned image", () => {
  const m = demoSet();
  const aligned = m.images.filter((i) => i.variant === 'aligned').map((i) => ({ img: i, elf: readElf(i.elf) }));
  for (const lib of ['ukplat', 'musl', 'lwip', 'ukalloc', 'mbedtls', 'zlib']) {
    const users = aligned.filter((a) => a.img.libraries.includes(lib));
    assert.ok(users.length >= 2, lib);
    const ref = libraryBytes(users[0].elf, lib);
    assert.equal(ref.addr % 4096, 0, `${lib} starts on a page`);
    for (const u of users.slice(1)) {
      const got = libraryBytes(u.elf, lib);
      assert.equal(got.addr, ref.addr, `${lib} address in ${u.img.name}`);
      assert.ok(got.bytes.equals(ref.bytes), `${lib} bytes in ${u.img.name}`);
    }
  }
});

test('rewritten ASLR instances run and print the same output, with identical library code at different addresses', () => {
  const m = demoSet();
  const apps = ['nginx', 'sqlite', 'dns', 'helloworld', 'lambda-perf'];
  for (const app of apps) {
    const compact = m.images.find((i) => i.variant === 'compact' && i.name === app)!;
    const instances = m.images.filter((i) => i.variant === 'aligned-aslr' && i.name === app);
    assert.equal(instances.length, TEST_ASLR_INSTANCES);
    assert.ok(new Set(instances.map((i) => i.libraries.join(','))).size > 1, `${app}: instances differ in library order`);
    for (const inst of instances) {
      assert.equal(run(inst.elf), compact.output, `${inst.elf} output`);
      assert.ok(inst.trampolines!.sites > 0);
    }
    const elfs = instances.map((i) => readElf(i.elf));
    // Code is identical (the application, private to its image, is not rewritten); read-only data
    // that holds absolute addresses (lwIP's pool descriptors, ...) is not remapped and may differ.
    for (const lib of compact.libraries.slice(0, -1)) {
      const views = elfs.map((e) => Buffer.from(sectionBytes(e, e.sections.find((s) => s.name === `.text.${lib}`)!)));
      for (const v of views.slice(1)) assert.ok(v.equals(views[0]), `${app}: ${lib} code identical across instances`);
    }
    if (compact.libraries.length > 4) {
      const moved = compact.libraries.filter((lib) => new Set(elfs.map((e) => libraryBytes(e, lib).addr)).size > 1);
      assert.ok(moved.length > 0, `${app}: libraries move between instances`);
    }
  }
});

test('the same seed gives byte-identical images; another seed gives another ASLR order', () => {
  const dirs = [0, 1, 2].map((i) => fs.mkdtempSync(path.join(os.tmpdir(), `unimem-det-${i}-`)));
  const opts = { count: 3, aslrInstances: 1, variants: ['default' as const] };
  const a = buildDemoSet({ ...opts, outDir: dirs[0], seed: 5 });
  const b = buildDemoSet({ ...opts, outDir: dirs[1], seed: 5 });
  const c = buildDemoSet({ ...opts, outDir: dirs[2], seed: 6 });
  assert.equal(a.images.length, b.images.length);
  a.images.forEach((img, i) => assert.ok(fs.readFileSync(img.elf).equals(fs.readFileSync(b.images[i].elf)), img.elf));
  const order = (m: typeof a) => m.images.filter((i) => i.variant === 'aligned-aslr').map((i) => i.libraries.join(',')).join(';');
  assert.notEqual(order(a), order(c));
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
