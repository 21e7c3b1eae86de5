/**
 * Image sets given by the user, the pool's loader-mapping rule and `image align`'s refusal.
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { memorySystem } from '../../src/base/system.ts';
import { InputError } from '../../src/base/errors.ts';
import { main } from '../../src/cli/main.ts';
import { loaderMapping, readImageSet } from '../../src/image/index.ts';
import { SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, type ElfSection } from '../../src/image/elf.ts';
import { demoSet } from './demo-set.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-imgset-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('image sets', () => {
  const m = demoSet();
  const compact = m.images.filter((i) => i.variant === 'compact').slice(0, 3);

  it('a set directory gives its manifest; ELF files or a directory of them give one flat set', () => {
    assert.equal(readImageSet([m.dir]).images.length, m.images.length);
    const files = readImageSet(compact.map((i) => i.elf));
    assert.deepEqual(files.images.filter((i) => i.variant === 'compact').map((i) => i.name), compact.map((i) => i.name));
    assert.equal(files.images.filter((i) => i.variant === 'aligned').length, 3, 'a flat set also feeds the pool loader');
    const dir = path.join(tmp, 'flat');
    fs.mkdirSync(dir);
    for (const i of compact) fs.copyFileSync(i.elf, path.join(dir, path.basename(i.elf)));
    fs.writeFileSync(path.join(dir, 'README'), 'not an image');
    assert.equal(readImageSet([dir]).images.length, 6);
    const variants = path.join(tmp, 'variants');
    fs.mkdirSync(path.join(variants, 'compact'), { recursive: true });
    fs.mkdirSync(path.join(variants, 'dce'));
    fs.copyFileSync(compact[0].elf, path.join(variants, 'compact', 'a.elf'));
    fs.copyFileSync(m.images.find((i) => i.variant === 'dce')!.elf, path.join(variants, 'dce', 'a.elf'));
    assert.deepEqual(readImageSet([variants]).images.map((i) => i.variant), ['compact', 'dce']);
  });

  it('refuses what is not an image set with an InputError naming the file', () => {
    const text = path.join(tmp, 'notes.txt');
    fs.writeFileSync(text, 'hello');
    assert.throws(() => readImageSet([text]), (e) => e instanceof InputError && /notes\.txt: not an ELF file/.test(e.message));
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    assert.throws(() => readImageSet([empty]), (e) => e instanceof InputError && /no ELF file/.test(e.message));
    assert.throws(() => readImageSet([path.join(tmp, 'missing')]), (e) => e instanceof InputError && /no such file/.test(e.message));
  });

  it('unimem run tlb-flushes --images with a bad input exits 2 with one line', async () => {
    const sys = memorySystem();
    assert.equal(await main(['run', 'tlb-flushes', '--quick', '--images', path.join(tmp, 'nothing-here')], sys), 2);
    assert.match(sys.stderr.join(''), /^unimem: .*nothing-here: no such file or directory\n$/);
  });
});

describe('pool shareability', () => {
  const section = (name: string, flags: number): ElfSection => ({ name, flags: flags | SHF_ALLOC }) as unknown as ElfSection;

  it('follows how the loader maps a section: code r-x even when the link marked it writable (--omagic), read-only data r--, the rest private', () => {
    assert.equal(loaderMapping(section('.text', SHF_EXECINSTR)), 'r-x');
    assert.equal(loaderMapping(section('.text', SHF_EXECINSTR | SHF_WRITE)), 'r-x');
    assert.equal(loaderMapping(section('.rodata', 0)), 'r--');
    assert.equal(loaderMapping(section('.data', SHF_WRITE)), 'rw-');
  });
});

describe('image align', () => {
  it('leaves no output folder behind when it refuses an input', async () => {
    const garbage = path.join(tmp, 'garbage.elf');
    fs.writeFileSync(garbage, 'not an elf at all, not at all, not at all, not at all');
    const out = path.join(tmp, 'aligned-out');
    const one = demoSet().images.find((i) => i.variant === 'compact')!.elf;
    for (const args of [[garbage, one], [one]]) {
      const sys = memorySystem();
      assert.equal(await main(['image', 'align', ...args, '--out', out], sys), 2, args.join(' '));
      assert.equal(fs.existsSync(out), false, `no ${out} after refusing ${args.join(' ')}`);
    }
  });

  it('refuses, in one line naming the image, objects that ld itself cannot link, and leaves no output folder', async () => {
    const [hello, other] = demoSet().images.filter((i) => i.variant === 'compact').slice(0, 2);
    // A valid x86-64 object, so our ELF reader accepts it, that leaves the boot code's app_main undefined.
    const objs = path.join(tmp, 'objs-ld-fails');
    fs.cpSync(hello.objDir!, objs, { recursive: true });
    const source = path.join(tmp, 'broken-app.c');
    fs.writeFileSync(source, 'extern int nowhere_defined(int);\nint not_app_main(int x) { return nowhere_defined(x) + 1; }\n');
    const app = hello.elf.endsWith('helloworld.elf') ? 'libapp-helloworld.o' : assert.fail(`unexpected first image ${hello.elf}`);
    execFileSync('gcc', ['-c', '-O1', '-fno-pie', '-o', path.join(objs, app), source]);
    const out = path.join(tmp, 'aligned-ld-fails');
    for (const aslr of [[], ['--aslr', '1']]) {
      const sys = memorySystem();
      assert.equal(await main(['image', 'align', hello.elf, other.elf, '--objs', objs, '--out', out, ...aslr], sys), 2);
      const err = sys.stderr.join('');
      assert.equal(err.trim().split('\n').length, 1, err);
      assert.match(err, new RegExp(`${hello.elf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ld could not relink it from the objects of .*objs-ld-fails: .*undefined reference to .app_main'`));
      assert.ok(!err.includes(out), 'names the user\'s objects, not the removed copies');
      assert.equal(fs.existsSync(out), false);
    }
  });
});
