/**
 * `gccInto` (src/base/gcc.ts): a build that succeeds leaves exactly its output, one that gcc
 * refuses leaves nothing under the final name, and says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GccFailure, gccInto } from '../../src/base/gcc.ts';

const skip = (() => {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'gcc is not installed';
  }
})();

function inTempDir(body: (dir: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-gcc-test-'));
  try {
    body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('gccInto builds the output, in a folder it makes, and leaves no temporary', { skip }, () => {
  inTempDir((dir) => {
    const source = path.join(dir, 'ok.c');
    fs.writeFileSync(source, 'int main(void) { return 7; }\n');
    const out = path.join(dir, 'sub', 'ok');
    gccInto(out, ['-O2', source]);
    assert.deepEqual(fs.readdirSync(path.dirname(out)), ['ok']);
    assert.throws(() => execFileSync(out), (e: { status?: number }) => e.status === 7);
  });
});

test('gccInto leaves nothing behind when gcc refuses the source, and gives its messages', { skip }, () => {
  inTempDir((dir) => {
    const source = path.join(dir, 'bad.c');
    fs.writeFileSync(source, 'int main(void) { return undeclared_name; }\n');
    const out = path.join(dir, 'bad');
    assert.throws(
      () => gccInto(out, [source]),
      (e: unknown) => e instanceof GccFailure && !e.missing && e.detail.includes('undeclared_name'),
    );
    assert.deepEqual(fs.readdirSync(dir), ['bad.c']);
  });
});
