/**
 * The replay's counters keep one V8 map for their whole life: a later program's counters must have
 * the map the first program's counters had when `replayRange` was optimized. A count that turned
 * into a double during a replay (the fractional cycle sum, byte counts from the trace, counts past
 * 2^30) used to give them a new map, which discarded the optimized replay loop of every later
 * program in the process (it then ran as on-stack-replaced code, boxing a double per event). The
 * map is only visible through V8's natives syntax, so the check runs in a child process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

test('ReplayCounters keep their map when counts turn into doubles', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-counters-map-'));
  try {
    const script = path.join(dir, 'check.mjs');
    const module = pathToFileURL(path.join(REPO, 'src/apps/traced.ts')).href;
    fs.writeFileSync(
      script,
      `const { ReplayCounters } = await import(${JSON.stringify(module)});
const fresh = new ReplayCounters();
const used = new ReplayCounters();
// What a replay does to them: a fractional cycle sum, byte counts and counts past 2^30.
used.memoryCycles += 1354104.7346938774;
used.liveBytes += 2 ** 31 + 8;
used.peakLiveBytes = used.liveBytes;
used.events += 3e9;
used.loads += 2 ** 30;
const next = new ReplayCounters();
console.log(JSON.stringify({ usedNext: %HaveSameMap(used, next), freshNext: %HaveSameMap(fresh, next) }));
`,
    );
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', script], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    assert.deepEqual(out, { usedNext: true, freshNext: true });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
