/**
 * Inputs that are not what a command reads, through the command line: one line on standard error
 * naming the file and the problem, exit 2, nothing on standard output and no output left behind.
 * (The deeper cases of each reader are in test/image/elf-limits.test.ts, test/trace/cli.test.ts,
 * test/config/limits.test.ts, test/cli/sweep-limits.test.ts and the fuzz targets.)
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, tempDir, write } from '../fixtures/cli.ts';

const { dir, cleanup } = tempDir('unimem-refusals-');
after(cleanup);
const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('a file that is not what the command reads', () => {
  const text = write(dir, 'notes.elf', 'not an elf at all, not at all, not at all, not at all\n');
  const objs = path.join(dir, 'objs');
  fs.mkdirSync(objs);
  const badObject = write(objs, 'libx.o', 'garbage');
  const out = path.join(dir, 'out');
  const hasTrue = fs.existsSync('/bin/true');

  const cases: [string, string[], string, RegExp][] = [
    ['image inspect', ['image', 'inspect', text], text, /not an ELF file \(\d+ bytes, shorter than an ELF header\)/],
    ['image compare', ['image', 'compare', text, text], text, /not an ELF file/],
    ['image pool', ['image', 'pool', text, '--pool', out], text, /not an ELF file/],
    ['image align', ['image', 'align', text, text, '--out', out], text, /not an ELF file/],
    ['image align with a bad object in --objs', ['image', 'align', '/bin/true', '/bin/true', '--objs', objs, '--out', out], badObject, /not an ELF file/],
    ['trace info', ['trace', 'info', text], text, /byte 0: not a unimem trace \(bad magic\)/],
    ['merge', ['merge', text, '--out', path.join(dir, 'merged.json')], text, /not a sweep result/],
    ['config check', ['config', 'check', text], text, /unknown experiment|\.yaml\/\.json/],
  ];
  for (const [name, args, file, problem] of cases) {
    it(name, { skip: args.includes('/bin/true') && !hasTrue && 'no /bin/true here' }, async () => {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^unimem: [^\n]+\n$/, 'one line');
      if (name !== 'config check') assert.match(r.stderr, new RegExp(`^unimem: ${quote(file)}: ${problem.source}`));
      else assert.match(r.stderr, problem);
      assert.equal(fs.existsSync(out), false, 'no output folder');
      assert.equal(fs.existsSync(path.join(dir, 'merged.json')), false, 'no output file');
    });
  }
});
