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
import { buildFaasSet, buildPool, FAAS_RUNTIME, functionShape, readDescription, imageKey, readElf, readManifest } from '../../src/image/index.ts';
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

  it('ASLR: the shareable pages of every runtime library, read-only data included, are the same in every instance; read-only data holding addresses is private', () => {
    const aslr = m.images.filter((i) => i.variant === 'aligned-aslr');
    // The mechanism has something to do: Lua and lwIP keep tables of addresses in read-only data,
    // which the default build separates (.rodata_addr) and the ASLR layout puts in .data.<lib>.
    const objects = readElf(path.join(aslr[0].objDir, 'liblua.o'));
    assert.ok(objects.sections.some((s) => s.name === '.rodata_addr' && s.size > 0), 'lua has read-only data holding addresses');
    for (const lib of FAAS_RUNTIME) {
      for (const kind of ['text', 'rodata']) assert.equal(new Set(aslr.map((i) => sectionHash(i.elf, `.${kind}.${lib}`) ?? 'absent')).size, 1, `.${kind}.${lib}`);
    }
    const luaData = new Set(aslr.map((i) => sectionHash(i.elf, '.data.lua')));
    assert.ok(luaData.size > 1, "lua's private data (with its address tables) differs per instance");
    // The pool of the ASLR images holds each runtime library once, as the aligned images' pool does.
    const pools = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-faas-pool-'));
    try {
      const entries = (variant: string): Map<string, Set<string>> => {
        const dir = path.join(pools, variant);
        const elfs = m.images.filter((i) => i.variant === variant).map((i) => i.elf);
        buildPool(dir, elfs);
        const byLib = new Map<string, Set<string>>();
        for (const elf of elfs) {
          for (const s of readDescription(path.join(dir, 'images', `${imageKey(elf)}.json`)).shared) {
            if (!s.library || !FAAS_RUNTIME.includes(s.library)) continue;
            byLib.set(s.library, (byLib.get(s.library) ?? new Set()).add(s.entry));
          }
        }
        return byLib;
      };
      const aslrEntries = entries('aligned-aslr');
      assert.deepEqual([...aslrEntries.keys()].sort(), [...FAAS_RUNTIME].sort());
      for (const [lib, set] of aslrEntries) assert.equal(set.size, 1, `${lib}: one pool entry for all ${aslr.length} ASLR instances`);
    } finally {
      fs.rmSync(pools, { recursive: true, force: true });
    }
  });

  it('compiles each function to about its drawn code size (the computation is not folded away)', () => {
    const compact = m.images.filter((i) => i.variant === 'compact');
    let drawn = 0;
    let compiled = 0;
    compact.forEach((img, i) => {
      const obj = readElf(path.join(img.objDir, `libapp-${img.name}.o`));
      const code = obj.sections.filter((s) => s.name.startsWith('.text.fn_step')).reduce((n, s) => n + s.size, 0);
      assert.ok(code > 0, `${img.name} keeps its step functions`);
      drawn += functionShape(new Rng(1).fork(`faas/${i}`)).codeBytes;
      compiled += code;
    });
    assert.ok(Math.abs(compiled / drawn - 1) < 0.25, `compiled ${compiled} B of steps for ${drawn} B drawn`);
  });

  it('gives byte-identical images for one seed whether links and compiles run one at a time or in parallel', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-faas-jobs-'));
    const saved = process.env.UNIMEM_JOBS;
    try {
      const build = (jobs: string, name: string): Map<string, string> => {
        process.env.UNIMEM_JOBS = jobs;
        // A fresh object cache each time, so the functions are compiled under that parallelism too.
        const set = buildFaasSet({ count: 3, seed: 5, outDir: path.join(tmp, name), objectCache: path.join(tmp, `${name}-objects`) });
        return new Map(set.images.map((i) => [path.relative(set.dir, i.elf), sha256(fs.readFileSync(i.elf))]));
      };
      const serial = build('1', 'serial');
      const parallel = build('6', 'parallel');
      assert.equal(serial.size, 12);
      assert.deepEqual(parallel, serial);
      assert.deepEqual(fs.readFileSync(path.join(tmp, 'parallel', 'manifest.json'), 'utf8').replace(/"dir":"[^"]*"/, ''), fs.readFileSync(path.join(tmp, 'serial', 'manifest.json'), 'utf8').replace(/"dir":"[^"]*"/, ''));
    } finally {
      if (saved === undefined) delete process.env.UNIMEM_JOBS;
      else process.env.UNIMEM_JOBS = saved;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('reports its phases and every finished job to the progress it is given', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-faas-progress-'));
    try {
      const phases: { label: string; total: number; last: number }[] = [];
      const progress = {
        phase: (label: string, total: number) => void phases.push({ label, total, last: 0 }),
        update: (done: number) => void (phases[phases.length - 1].last = done),
        finish: () => {},
      };
      buildFaasSet({ count: 2, seed: 3, outDir: path.join(tmp, 'set'), objectCache: path.join(tmp, 'objects'), progress });
      assert.deepEqual(
        phases.map((p) => [p.label, p.total, p.last]),
        [
          ['compile functions', 2, 2],
          ['plan layouts', 1, 0],
          // compact, aligned, ASLR (plus the one link with relocations kept for the trampolines), DCE
          ['link images', 9, 9],
          ['trampolines (ASLR images)', 2, 2],
          ['run images', 8, 8],
        ],
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
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
