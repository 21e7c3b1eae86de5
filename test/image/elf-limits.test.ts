/**
 * Hostile ELF files: each failure class the reader once had (huge loads, sections outside their
 * segments, unchecked string tables, quadratic name scans, section bytes that are not the loaded
 * bytes, relocations resolved against the wrong symbol table) gets its one-line error, fast, and a
 * real dynamically linked program is read.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ELF_LIMITS, parseElf, readElf, SHT_DYNSYM } from '../../src/image/elf.ts';
import { loadImage } from '../../src/image/pages.ts';
import { readDescription } from '../../src/image/pool.ts';
import { cli, tempDir } from '../fixtures/cli.ts';
import { buildElf, withField } from '../fixtures/elf-builder.ts';

const elf = buildElf();
const TOO_BIG = 2 ** 40;

/** Parse and load (what `image inspect` does): must fail with a message matching `message`, fast. */
function refuses(bytes: Uint8Array, message: RegExp): void {
  const t0 = performance.now();
  assert.throws(
    () => loadImage(parseElf(bytes, 'x.elf'), []),
    (e: Error) => e.name === 'InputError' && message.test(e.message) && e.message.startsWith('x.elf: ') && !e.message.includes('\n'),
  );
  assert.ok(performance.now() - t0 < 1000, `took ${Math.round(performance.now() - t0)} ms`);
}

describe('ELF reader bounds', () => {
  it('reads the built image: sections, symbols and relocations', () => {
    const f = parseElf(elf.bytes, 'ok.elf');
    assert.deepEqual(f.sections.map((s) => s.name), ['', '.text', '.data', '.bss', '.symtab', '.strtab', '.rela.text', '.shstrtab']);
    assert.deepEqual(f.symbols.map((s) => s.name), ['', 'sym1', 'sym2']);
    assert.equal(f.relocations[0].symbolTable, elf.sectionIndex['.symtab']);
    assert.equal(loadImage(f, []).pages.length, 3);
  });

  it('refuses a huge p_memsz instead of allocating a page per 4 KiB of it', () => {
    refuses(withField(elf, 'phdr1.p_memsz', TOO_BIG), new RegExp(`loaded segments exceed ${ELF_LIMITS.loadedBytes} bytes in all`));
  });

  it('loads a large bss with one shared zero page, not a page of memory each', () => {
    const img = loadImage(parseElf(withField(elf, 'phdr1.p_memsz', 256 * 1024 * 1024), 'bss.elf'), []);
    assert.equal(img.pages.length, 2 + 65536);
    assert.equal(img.pageBytes(img.pages[img.pages.length - 1].vaddr), img.pageBytes(img.pages[img.pages.length - 2].vaddr), 'zero pages are one array');
  });

  it('refuses an allocated section at a huge address (outside every segment)', () => {
    refuses(withField(elf, 'shdr3.bss.sh_addr', TOO_BIG), /section 3 \(\.bss\): 0x10000000000\.\.0x10000001000 lies in no loaded segment/);
  });

  it('refuses a section name table that is not a string table (the 192-byte hang)', () => {
    const bytes = withField(elf, 'e_shstrndx', 0);
    refuses(bytes, /section name table: section 0 is not a string table \(type 0\)/);
  });

  it('refuses a symbol string table index that names a non-string section', () => {
    refuses(withField(elf, 'shdr4.symtab.sh_link', elf.sectionIndex['.bss']), /\.symtab: string table: section 3 is not a string table/);
  });

  it('finds names in a long unterminated string table in linear time', () => {
    const big = buildElf({ symbols: 20_000 });
    const bytes = big.bytes.slice();
    const strtab = parseElf(big.bytes, 'x').sections[big.sectionIndex['.strtab']];
    // Every NUL but the first becomes 'a': each symbol's name runs to the table's end.
    for (let i = strtab.offset + 1; i < strtab.offset + strtab.size; i++) if (bytes[i] === 0) bytes[i] = 0x61;
    refuses(bytes, /\.symtab: symbol 1: unterminated string at offset \d+/);
  });

  it('refuses section bytes that are not the bytes its segment loads (pool descriptions would not rebuild the image)', () => {
    refuses(withField(elf, 'shdr2.data.sh_offset', 0), /section 2 \(\.data\): its file bytes \(offset 0\) are not the bytes its segment loads at 0x/);
  });

  it('refuses overlapping loaded sections', () => {
    const data = parseElf(elf.bytes, 'x').sections[2];
    refuses(withField(elf, 'shdr3.bss.sh_addr', data.addr + 8), /sections 2 \(\.data\) and 3 \(\.bss\) overlap at 0x/);
  });

  it('refuses a relocation naming a symbol beyond its linked table', () => {
    refuses(withField(elf, 'rela1.r_sym', 99), /\.rela\.text: relocation 1 names symbol 99 of the 3 in \.symtab/);
  });

  it('resolves relocations against the table they link to: /bin/true (.rela.dyn -> .dynsym) is read', { skip: !fs.existsSync('/bin/true') && 'no /bin/true here' }, () => {
    const t = readElf('/bin/true');
    const dynamic = t.relocations.filter((r) => t.sections[r.symbolTable]?.type === SHT_DYNSYM);
    assert.ok(dynamic.length > 0, 'has relocation sections linked to .dynsym');
  });

  it('truncations at every length give one-line errors, never a crash', () => {
    for (let n = 0; n < elf.bytes.length; n += 7) {
      try {
        loadImage(parseElf(elf.bytes.subarray(0, n), 't.elf'), []);
      } catch (e) {
        assert.equal((e as Error).name, 'InputError', `length ${n}: ${(e as Error).stack}`);
      }
    }
  });
});

describe('the image commands on hostile files', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  for (const command of ['inspect', 'compare', 'pool']) {
    it(`image ${command}: a huge p_memsz is one line, exit 2`, async () => {
      const file = path.join(tmp.dir, `${command}.elf`);
      fs.writeFileSync(file, withField(elf, 'phdr1.p_memsz', TOO_BIG));
      const args = command === 'pool' ? ['image', 'pool', file, '--pool', path.join(tmp.dir, 'pool')] : ['image', command, file];
      const r = await cli(args);
      assert.equal(r.code, 2);
      assert.equal(r.stderr, `unimem: ${file}: segment 1: loaded segments exceed ${ELF_LIMITS.loadedBytes} bytes in all (the limit for an image)\n`);
    });
  }

  it('a description whose sections lie outside its segments is refused before anything is allocated', () => {
    const file = path.join(tmp.dir, 'd.json');
    const hash = 'a'.repeat(64);
    fs.writeFileSync(
      file,
      JSON.stringify({
        magic: 'unimem-image-description', version: 1, image: 'x', source: 'x', entry: 0,
        segments: [{ vaddr: 0, memsz: 4096, flags: 'r-x' }],
        shared: [{ name: 's', library: null, vaddr: 2 ** 40, size: 4096, entry: hash, pages: [1] }],
        private: [], privateFile: 'x.private', privateSha256: hash,
      }),
    );
    assert.throws(() => readDescription(file), /d\.json: shared section s: 0x10000000000\.\.0x10000001000 lies in no segment/);
    const huge = JSON.parse(fs.readFileSync(file, 'utf8'));
    huge.segments = [{ vaddr: 0, memsz: 2 ** 50, flags: 'r-x' }];
    fs.writeFileSync(file, JSON.stringify(huge));
    assert.throws(() => readDescription(file), /segments: more than \d+ bytes in all/);
  });
});
