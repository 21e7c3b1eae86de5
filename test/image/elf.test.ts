import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../../src/base/errors.ts';
import { memorySystem } from '../../src/base/system.ts';
import { main } from '../../src/cli/main.ts';
import { parseElf, readElf, readSections, SHF_ALLOC, PT_LOAD } from '../../src/image/elf.ts';
import { readLoadedImage } from '../../src/image/index.ts';
import { tempDir } from '../fixtures/cli.ts';
import { demoSet } from './demo-set.ts';

const { dir: tmp, cleanup } = tempDir('unimem-elf-test-');
after(cleanup);

test('section headers match readelf -SW on a linked image and a library object', () => {
  const m = demoSet();
  const img = m.images.find((i) => i.variant === 'aligned' && i.name === 'nginx')!;
  for (const file of [img.elf, path.join(img.objDir, 'liblwip.o')]) {
    const ours = readElf(file).sections.filter((s) => s.index > 0);
    const lines = execFileSync('readelf', ['-SW', file], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^\s+\[\s*\d+\]/.test(l) && !/\[\s*0\]/.test(l));
    assert.equal(ours.length, lines.length);
    lines.forEach((l, i) => {
      const f = l.replace(/^\s+\[\s*\d+\]\s+/, '').split(/\s+/);
      assert.equal(ours[i].name, f[0]);
      assert.equal(ours[i].addr, parseInt(f[2], 16), `${f[0]} address`);
      assert.equal(ours[i].size, parseInt(f[4], 16), `${f[0]} size`);
    });
  }
});

test('readSections reads the same section table from the headers alone, and refuses a cut file', () => {
  const m = demoSet();
  for (const img of m.images.filter((i) => i.name === 'nginx')) assert.deepEqual(readSections(img.elf), readElf(img.elf).sections, img.elf);
  const elf = m.images[0].elf;
  const cut = path.join(tmp, 'cut-headers.elf');
  const bytes = fs.readFileSync(elf);
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
  assert.throws(() => readSections(cut), (e: Error) => e instanceof InputError && e.message.includes('cut-headers.elf') && /section header table/.test(e.message));
  assert.throws(() => readSections(path.join(tmp, 'missing.elf')), InputError);
});

test('segments, symbols and relocation counts match readelf', () => {
  const m = demoSet();
  const img = m.images.find((i) => i.variant === 'compact' && i.name === 'sqlite')!;
  const elf = readElf(img.elf);
  const loads = execFileSync('readelf', ['-lW', img.elf], { encoding: 'utf8' }).split('\n').filter((l) => /^\s+LOAD/.test(l));
  const ours = elf.segments.filter((s) => s.type === PT_LOAD);
  assert.equal(ours.length, loads.length);
  loads.forEach((l, i) => {
    const f = l.trim().split(/\s+/);
    assert.equal(ours[i].vaddr, parseInt(f[2], 16));
    assert.equal(ours[i].memsz, parseInt(f[5], 16));
  });
  const syms = execFileSync('readelf', ['-sW', img.elf], { encoding: 'utf8' }).match(/Symbol table '\.symtab' contains (\d+) entries/)!;
  assert.equal(elf.symbols.length, Number(syms[1]));
  const obj = path.join(img.objDir, 'libzlib.o');
  const relocs = execFileSync('readelf', ['-rW', obj], { encoding: 'utf8' }).match(/contains (\d+) entr/g)!.reduce((n, s) => n + Number(/(\d+)/.exec(s)![1]), 0);
  assert.equal(readElf(obj).relocations.reduce((n, r) => n + r.relocations.length, 0), relocs);
});

test('every library of an image is attributed and owns its pages', () => {
  const m = demoSet();
  const img = m.images.find((i) => i.variant === 'compact' && i.name === 'nginx')!;
  const loaded = readLoadedImage(img.elf, { objDir: img.objDir });
  const found = new Set(loaded.libraries.map((r) => r.library));
  for (const lib of img.libraries) assert.ok(found.has(lib), `${lib} attributed`);
  const text = loaded.pages.filter((p) => p.kind === 'text');
  assert.ok(text.every((p) => p.library !== null));
  // The image starts with the platform's entry (its page may belong mostly to a larger library).
  assert.equal(loaded.libraries.find((r) => r.start <= 0x100000 && 0x100000 < r.end)!.library, 'ukplat');
});

test('a garbage or truncated ELF is an InputError naming the file, and exit code 2 on the command line', async () => {
  const garbage = path.join(tmp, 'garbage.elf');
  fs.writeFileSync(garbage, Buffer.from('this is not an ELF file at all, just text'.repeat(4)));
  assert.throws(() => readElf(garbage), (e) => e instanceof InputError && /garbage\.elf: not an ELF file/.test(e.message));
  const good = fs.readFileSync(demoSet().images[0].elf);
  for (const cut of [10, 64, 200, good.length - 100]) {
    assert.throws(() => parseElf(good.subarray(0, cut), 'cut.elf'), InputError, `cut at ${cut}`);
  }
  const truncated = path.join(tmp, 'truncated.elf');
  fs.writeFileSync(truncated, good.subarray(0, 300));
  for (const file of [garbage, truncated]) {
    const sys = memorySystem();
    assert.equal(await main(['image', 'inspect', file], sys), 2);
    assert.match(sys.stderr.join(''), new RegExp(`^unimem: ${path.basename(file).replace('.', '\\.')}|${file}`));
    assert.equal(sys.stderr.join('').trim().split('\n').length, 1);
  }
});

test('loaded sections are all attributed in the images (no orphan sections)', () => {
  const m = demoSet();
  for (const img of m.images.filter((i) => i.variant === 'aligned')) {
    for (const s of readElf(img.elf).sections) if (s.flags & SHF_ALLOC) assert.match(s.name, /^\.(text|rodata|data|bss)\.|^\.uk_inittab$/);
  }
});
