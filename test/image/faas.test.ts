/**
 * `image faas`: distinct function unikernels on one runtime. Every variant runs and prints the same
 * line; in the aligned variant the runtime's libraries are byte-identical in every image while the
 * functions' own sections differ; in the ASLR variant the libraries move but keep their bytes.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Rng } from '../../src/base/rng.ts';
import { memorySystem } from '../../src/base/system.ts';
import { main } from '../../src/cli/main.ts';
import { sha256 } from '../../src/image/toolchain.ts';
import { FAAS_RUNTIME, functionShape, readElf, readManifest } from '../../src/image/index.ts';
import { FAAS_TEST_COUNT, faasSet } from './faas-set.ts';

const sectionHash = (elf: string, name: string): string | undefined => {
  const f = readElf(elf);
  const s = f.sections.find((x) => x.name === name);
  return s ? sha256(f.bytes.subarray(s.offset, s.offset + s.size)) : undefined;
};

describe('image faas', () => {
  const m = faasSet();

  it('gives N distinct functions, each in every variant, one ASLR image each, all printing the same line per function', () => {
    const names = new Set(m.images.map((i) => i.name));
    assert.equal(names.size, FAAS_TEST_COUNT);
    for (const v of ['compact', 'dce', 'aligned', 'aligned-aslr']) assert.equal(m.images.filter((i) => i.variant === v).length, FAAS_TEST_COUNT, v);
    const outputs = new Set<string>();
    for (const n of names) {
      const lines = new Set(m.images.filter((i) => i.name === n).map((i) => i.output));
      assert.equal(lines.size, 1, `${n}: every variant prints the same line`);
      const [line] = lines;
      assert.match(line, new RegExp(`^${n}: result 0x[0-9a-f]{16} inits \\d+\\n$`));
      outputs.add(line);
    }
    assert.equal(outputs.size, FAAS_TEST_COUNT, 'distinct functions compute distinct results');
  });

  it('aligned: every runtime library is byte-identical at the same address in all images; the functions differ', () => {
    const aligned = m.images.filter((i) => i.variant === 'aligned');
    for (const lib of FAAS_RUNTIME) {
      for (const kind of ['text', 'rodata']) {
        const hashes = new Set(aligned.map((i) => sectionHash(i.elf, `.${kind}.${lib}`) ?? 'absent'));
        assert.equal(hashes.size, 1, `.${kind}.${lib} is the same in all ${aligned.length} images`);
      }
      const addrs = new Set(aligned.map((i) => readElf(i.elf).sections.find((s) => s.name === `.text.${lib}`)!.addr));
      assert.equal(addrs.size, 1, `${lib} sits at one address`);
    }
    const apps = new Set(aligned.map((i) => sectionHash(i.elf, `.text.app-${i.name}`)));
    assert.equal(apps.size, FAAS_TEST_COUNT, 'each function has its own code');
    const data = new Set(aligned.map((i) => sectionHash(i.elf, `.rodata.app-${i.name}`)));
    assert.equal(data.size, FAAS_TEST_COUNT, 'each function has its own constant data');
  });

  it('ASLR: libraries move between instances but keep their bytes', () => {
    const aslr = m.images.filter((i) => i.variant === 'aligned-aslr');
    const lwipAt = new Set(aslr.map((i) => readElf(i.elf).sections.find((s) => s.name === '.text.lwip')!.addr));
    assert.ok(lwipAt.size > 1, 'lwip is placed at different addresses');
    for (const lib of FAAS_RUNTIME) assert.equal(new Set(aslr.map((i) => sectionHash(i.elf, `.text.${lib}`))).size, 1, lib);
  });

  it('records the real libraries it links with their Debian source packages and versions', () => {
    const names = m.realLibraries.map((l) => l.name).sort();
    assert.deepEqual(names, ['gcc', 'lua', 'lwip', 'musl']);
    for (const l of m.realLibraries) assert.match(l.version, /\d/);
  });

  it('draws function sizes from the documented log-normal distributions, deterministically', () => {
    const shapes = Array.from({ length: 2000 }, (_, i) => functionShape(new Rng(9).fork(`s${i}`)));
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1];
    const code = median(shapes.map((s) => s.codeBytes));
    const data = median(shapes.map((s) => s.tableWords * 4));
    assert.ok(code > 7000 && code < 9400, `code median ${code} near 8 KiB`);
    assert.ok(data > 3400 && data < 4800, `data median ${data} near 4 KiB`);
    for (const s of shapes) assert.ok(s.codeBytes >= 1024 && s.codeBytes <= 65536 && s.tableWords >= 64 && s.tableWords <= 16384);
    assert.deepEqual(functionShape(new Rng(9).fork('s0')), shapes[0], 'same seed, same shape');
  });

  it('unimem image faas --count 3 --out DIR --json writes a set and refuses a directory that is not one', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-faas-cli-'));
    try {
      const out = path.join(tmp, 'set');
      const sys = memorySystem();
      assert.equal(await main(['image', 'faas', '--count', '3', '--out', out, '--json'], sys), 0);
      const printed = JSON.parse(sys.stdout.join(''));
      assert.equal(new Set(printed.images.map((i: { name: string }) => i.name)).size, 3);
      assert.equal(readManifest(out).images.length, 12);
      const user = path.join(tmp, 'mine');
      fs.mkdirSync(user);
      fs.writeFileSync(path.join(user, 'keep.txt'), 'mine');
      const sys2 = memorySystem();
      assert.equal(await main(['image', 'faas', '--count', '3', '--out', user], sys2), 2);
      assert.match(sys2.stderr.join(""), /mine: is a folder that holds other files/);
      assert.equal(fs.readFileSync(path.join(user, 'keep.txt'), 'utf8'), 'mine');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
