/** Golden `--help` output of every command (test/golden/help/; UPDATE_GOLDEN=1 rewrites them). */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { memorySystem } from '../../src/base/system.ts';
import { buildProgram } from '../../src/cli/main.ts';
import { cli } from '../fixtures/cli.ts';
import { checkGolden } from '../fixtures/golden.ts';

function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.filter((c) => c.name() !== 'help').flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

describe('--help', () => {
  const paths = [[], ...commandPaths(buildProgram(memorySystem()))];
  for (const p of paths) {
    const name = ['unimem', ...p].join(' ');
    it(`${name} --help matches its golden file`, async () => {
      const r = await cli([...p, '--help']);
      assert.equal(r.code, 0);
      assert.equal(r.stderr, '');
      checkGolden(`help/${['unimem', ...p].join('-')}.txt`, r.stdout);
    });
  }

  it('an unknown command is a one-line error with exit code 2', async () => {
    const r = await cli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "error: unknown command 'frobnicate'\n");
  });
});
