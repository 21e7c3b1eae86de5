/**
 * Output paths: every way an output path can be wrong gives one line and exit 2 before any work;
 * a folder the user owns is never deleted; a results folder holds one complete run, never a mix;
 * temporaries left by a killed run are removed by the next write.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkOutputDir, checkOutputFile, OUTPUT_MARKER, removeStaleTemporaries, writeFolder } from '../../src/base/output.ts';
import { writeFileAtomic } from '../../src/base/system.ts';
import { removeDemoSet } from '../../src/image/output-folders.ts';
import { cli, tempDir, write } from '../fixtures/cli.ts';

/** A pid that is certainly not running (above the kernel's pid_max limit of 2^22). */
const DEAD_PID = 2 ** 22 + 17;

describe('output paths are checked before the run, one line, exit 2', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  let userDir: string;
  before(() => {
    tmp = tempDir();
    file = write(tmp.dir, 'file.txt', 'the user\'s file\n');
    userDir = path.join(tmp.dir, 'mine');
    fs.mkdirSync(userDir);
    write(userDir, 'notes.txt', 'keep me\n');
    fs.symlinkSync(path.join(tmp.dir, 'nowhere'), path.join(tmp.dir, 'dangling'));
  });
  after(() => tmp.cleanup());

  const cases: [string, () => string[], RegExp][] = [
    ['run --out naming a file', () => ['run', 'no-such-experiment', '--out', file], /^unimem: --out: .*file\.txt: is a file; give a folder\n$/],
    ['run --out under a file', () => ['run', 'machine', '--out', path.join(file, 'x')], /file\.txt is a file, not a folder\n$/],
    ['run --out through a dangling link', () => ['run', 'machine', '--out', path.join(tmp.dir, 'dangling', 'x')], /dangling is a link to nothing/],
    ['run --out under /proc', () => ['run', 'machine', '--out', '/proc/self/unimem'], /^unimem: --out: \/proc\/self\/unimem: is under \/proc, a virtual file system/],
    ['run --out naming a folder of the user', () => ['run', 'machine', '--out', userDir], /mine: is a folder that holds other files and was not written by unimem/],
    ['reproduce --out naming a folder of the user', () => ['reproduce', '--only', 'machine', '--out', userDir], /mine: is a folder that holds other files/],
    ['sweep --out naming a folder', () => ['sweep', 'machine', '--vary', 'seed=1', '--out', userDir], /^unimem: --out: .*mine: is a folder; give a file name\n$/],
    ['sweep --csv under /proc', () => ['sweep', 'machine', '--vary', 'seed=1', '--csv', '/proc/1/x.csv'], /^unimem: --csv: \/proc\/1\/x\.csv: is under \/proc/],
    ['merge --out under a file', () => ['merge', file, '--out', path.join(file, 'm.json')], /^unimem: --out: .*file\.txt is a file, not a folder\n$/],
    ['image demo --out naming a file', () => ['image', 'demo', '--out', file], /^unimem: --out: .*file\.txt: is a file; give a folder\n$/],
    ['image demo --out naming a folder of the user', () => ['image', 'demo', '--out', userDir], /mine: is a folder that holds other files/],
    ['image align --out naming a folder of the user', () => ['image', 'align', '/bin/true', '/bin/true', '--out', userDir], /mine: is a folder that holds other files/],
    ['image pool --pool naming a folder of the user', () => ['image', 'pool', '/bin/true', '--pool', userDir], /^unimem: --pool: .*mine: is a folder that holds other files/],
    ['docs --out under a file', () => ['docs', '--out', file], /^unimem: --out: .*file\.txt\/parameters\.md: .*file\.txt is a file, not a folder\n$/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const r = await cli(args());
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
      assert.equal(fs.readFileSync(file, 'utf8'), 'the user\'s file\n');
      assert.deepEqual(fs.readdirSync(userDir), ['notes.txt']);
    });
  }
});

describe('output folders', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  it('replaces an earlier run whole: no file of the old run stays beside the new one', () => {
    const dir = path.join(tmp.dir, 'results');
    writeFolder('--out', dir, [{ name: 'old-table.csv', content: 'a\n' }, { name: 'results.json', content: '{"run":1}\n' }]);
    assert.deepEqual(fs.readdirSync(dir).sort(), [OUTPUT_MARKER, 'old-table.csv', 'results.json']);
    writeFolder('--out', dir, [{ name: 'new-table.csv', content: 'b\n' }, { name: 'results.json', content: '{"run":2}\n' }]);
    assert.deepEqual(fs.readdirSync(dir).sort(), [OUTPUT_MARKER, 'new-table.csv', 'results.json']);
    assert.deepEqual(fs.readdirSync(tmp.dir), ['results'], 'no temporary left beside it');
  });

  it('refuses to replace a folder once the user put a file of their own in it', () => {
    const dir = path.join(tmp.dir, 'annotated');
    writeFolder('--out', dir, [{ name: 'results.json', content: '{}\n' }]);
    write(dir, 'my-notes.txt', 'x');
    assert.throws(() => writeFolder('--out', dir, [{ name: 'results.json', content: '{}\n' }]), /annotated: is a folder that holds other files/);
    assert.ok(fs.existsSync(path.join(dir, 'my-notes.txt')));
  });

  it('removes the temporaries a killed run left behind, and only those of dead processes', () => {
    const dir = path.join(tmp.dir, 'stale');
    fs.mkdirSync(dir);
    const dead = [`.results.json.${DEAD_PID}.123.tmp`, `.out.${DEAD_PID}.unimem-tmp`, `.out.${DEAD_PID}.unimem-old`];
    const alive = `.results.json.${process.pid}.5.tmp`;
    for (const n of [...dead, alive]) write(dir, n, 'partial');
    writeFileAtomic(path.join(dir, 'results.json'), '{}\n');
    removeStaleTemporaries(dir, 'out');
    assert.deepEqual(fs.readdirSync(dir).sort(), [alive, 'results.json']);
  });

  it('accepts /dev/shm (memory-backed but real) and refuses the rest of /dev', () => {
    assert.equal(checkOutputDir('--pool', '/dev/shm/unimem-no-such-pool'), '/dev/shm/unimem-no-such-pool');
    assert.throws(() => checkOutputFile('--out', '/dev/null/x'), /is under \/dev, a virtual file system/);
  });

  it('checks files and folders without creating anything', () => {
    const missing = path.join(tmp.dir, 'a', 'b', 'c');
    assert.equal(checkOutputDir('--out', missing), missing);
    assert.equal(checkOutputFile('--csv', missing), missing);
    assert.ok(!fs.existsSync(path.join(tmp.dir, 'a')));
  });

  it('never deletes a folder that is not a demo set, even one holding a manifest', () => {
    const dir = path.join(tmp.dir, 'looks-like-demo');
    fs.mkdirSync(dir);
    write(dir, 'manifest.json', JSON.stringify({ magic: 'unimem-demo-manifest', version: 1 }));
    write(dir, 'thesis.tex', 'years of work');
    assert.throws(() => removeDemoSet(dir), /looks-like-demo: is a folder that holds other files/);
    assert.ok(fs.existsSync(path.join(dir, 'thesis.tex')));
    const set = path.join(tmp.dir, 'demo');
    fs.mkdirSync(path.join(set, 'compact'), { recursive: true });
    write(set, 'manifest.json', JSON.stringify({ magic: 'unimem-demo-manifest', version: 1 }));
    removeDemoSet(set);
    assert.ok(!fs.existsSync(set), 'an earlier demo set is replaced');
  });
});
