/**
 * The long campaign's own machinery (`npm run fuzz`), on a target that misbehaves on purpose
 * (targets.ts, UNIMEM_FUZZ_SELFTEST): an input that loops is a hang, caught by the CPU-time
 * watchdog, and its worker is replaced; an input that kills its worker is a crash; a TypeError is a
 * failure; each is saved to the corpus and counted, the other inputs still run, and the campaign
 * exits 1.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, it } from 'node:test';
import { tempDir } from '../fixtures/cli.ts';

const { dir, cleanup } = tempDir('unimem-fuzz-campaign-test-');
after(cleanup);

it('catches a hang, a dead worker and a bug, saves each input, and goes on with the rest', () => {
  const campaign = path.join(path.dirname(new URL(import.meta.url).pathname), 'campaign.ts');
  // Seed 2 draws the inputs 3,0,251,250,1,0,1,252: one crash, one hang, one bug among eight.
  const r = spawnSync(process.execPath, ['--import', 'tsx', campaign, '--cases', '8', '--seed', '2', '--timeout', '300', '--cli-every', '0', '--workers', '1'], {
    env: { ...process.env, UNIMEM_FUZZ_SELFTEST: '1', UNIMEM_FUZZ_CORPUS: dir },
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /selftest: worker died \(SIGKILL\) on input 2: /);
  assert.match(r.stdout, /selftest: hang \(over 300 ms CPU\): /);
  assert.match(r.stdout, /selftest: TypeError: a bug/);
  // cases, failures, slow, hangs, crashed workers, command-line runs (the bug and the crash), their failures
  assert.match(r.stdout, /\| selftest \| 8 \| 1 \| 0 \| 1 \| 1 \| 2 \| 0 \|/);
  const saved = fs.readdirSync(path.join(dir, 'selftest')).map((f) => fs.readFileSync(path.join(dir, 'selftest', f))[0]);
  assert.deepEqual(saved.sort(), [250, 251, 252]);
});
