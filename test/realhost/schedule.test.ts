/**
 * The invocation schedule the real host hands to its VMMs is the simulated host's own: for every
 * configuration, the number of invocations the simulator serves equals the schedule's, and each
 * schedule is in order, inside the run and after the instance's launch. No KVM needed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { runSharingConfig, SHARING_CONFIGS } from '../../src/experiments/dedup/faas.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { configRng, instanceSchedule, writeSchedule } from '../../src/realhost/schedule.ts';

describe('invocation schedule', () => {
  const set = prepareImages(20, 1, 1, ['compact']);
  const config = SHARING_CONFIGS.find((c) => c.name === 'no sharing')!;
  const model = faasModelOf({ ...faasDefaults(), instances: 12, durationSec: 6, launchPerSecond: 4, invocationsPerSecond: 2 });

  it('has as many invocations as the simulated host serves, in order, after each launch', () => {
    const sim = runSharingConfig(set, config, model, configRng(3, 'dedup-faas', config));
    let total = 0;
    for (let i = 0; i < model.instances; i++) {
      const s = instanceSchedule(set, config, model, configRng(3, 'dedup-faas', config), i);
      total += s.length;
      for (let k = 0; k < s.length; k++) {
        assert.ok(s[k].atNs > i * 250e6 && s[k].atNs <= model.durationSec * 1e9);
        assert.equal(s[k].atNs % (model.stepMs * 1e6), 0, 'served on a simulation step');
        if (k > 0) assert.ok(s[k].atNs >= s[k - 1].atNs);
        assert.ok(s[k].workingSetBytes > 0);
      }
    }
    assert.ok(total > 20, `precondition: enough invocations (${total})`);
    assert.equal(total, sim.invocations);
  });

  it('differs between seeds and writes one line per invocation', () => {
    const a = instanceSchedule(set, config, model, configRng(3, 'dedup-faas', config), 0);
    const b = instanceSchedule(set, config, model, configRng(4, 'dedup-faas', config), 0);
    assert.notDeepEqual(a, b);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-schedule-')), 'inv.txt');
    writeSchedule(file, a);
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, a.length);
    assert.match(lines[0], /^\d+ \d+$/);
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});
