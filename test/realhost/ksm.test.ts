/**
 * Real KSM (host-global: these are the only tests that touch it, in one file so they never run at
 * the same time): four VMs merge under KSM and every setting is restored afterwards; a run killed
 * with SIGKILL leaves nothing behind once the next run starts. Skipped with the reason where KVM
 * or KSM is unusable.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { faasDefaults, faasModelOf } from '../../src/experiments/dedup-faas.ts';
import { SHARING_CONFIGS } from '../../src/experiments/dedup/faas.ts';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { readElf } from '../../src/image/index.ts';
import { realHostUnavailable } from '../../src/realhost/check.ts';
import { runRealConfig, withRealHost, type FaasDescription } from '../../src/realhost/faas.ts';
import { readSettings } from '../../src/realhost/ksm.ts';
import { configRng, instanceSchedule } from '../../src/realhost/schedule.ts';
import { processStart, RunState, stateFile } from '../../src/realhost/state.ts';

// The default needs include perf with the ksm:* tracepoints, which the run records.
const unavailable = realHostUnavailable();
const skip = unavailable ? { skip: unavailable } : {};
process.env.UNIMEM_REALHOST_STATE = path.join(os.tmpdir(), `unimem-realhost-test-${process.pid}.json`);

const leftovers = (): string[] => fs.readdirSync('/dev/shm').filter((f) => f.startsWith('unimem-run-'));

describe('real KSM', skip, () => {
  const set = unavailable ? null : prepareImages(20, 1, 1, ['compact', 'aligned', 'aligned-aslr']);

  it('four VMs of one image merge, and every KSM setting is restored', async () => {
    const hello = set!.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const desc: FaasDescription = {
      set: { ...set!, byVariant: new Map([['compact', [hello]]]) },
      configs: [SHARING_CONFIGS.find((c) => c.name === 'compact + KSM')!],
      model: faasModelOf({ ...faasDefaults(), instances: 4, durationSec: 3, launchPerSecond: 50, invocationsPerSecond: 1, pagesToScan: 1000 }),
    };
    const before = readSettings();
    const dirsBefore = leftovers();
    const opts = { seed: 5, experiment: 'dedup-faas', convergeTimeoutSec: 30 };
    const [run] = await withRealHost(async (state) => [await runRealConfig(desc, desc.configs[0], state, opts)]);
    assert.equal(run.started, 4);
    assert.equal(run.bootFailures, 0);
    // Every invocation of the simulated host's schedule was served.
    const scheduled = [0, 1, 2, 3].reduce((n, i) => n + instanceSchedule(desc.set, desc.configs[0], desc.model, configRng(5, 'dedup-faas', desc.configs[0]), i).length, 0);
    assert.ok(scheduled > 0, 'precondition: the schedule has invocations');
    assert.equal(run.invocations, scheduled);
    // KSM's tracepoints saw the merges the counters show, and ksmd used CPU time.
    const c = run.converged!.ksm;
    // Every page in pages_sharing was merged during the run (KSM unmerged everything first).
    assert.ok(c.merges > 0 && c.merges >= c.pagesSharing, `merges ${c.merges}, pages_sharing ${c.pagesSharing}`);
    assert.ok(c.tlbFlushes >= 2 * c.merges);
    assert.ok(c.cpuNs > 0);
    // At least the read-only pages of the image (never written, the same in the four VMs) merge: 3 sharers each.
    const readOnlyPages = readElf(hello.elf).segments.filter((s) => s.type === 1 && !(s.flags & 2)).reduce((n, s) => n + Math.ceil(s.memsz / 4096), 0);
    assert.ok(readOnlyPages >= 2);
    assert.ok(run.converged!.ksm.pagesSharing >= 3 * readOnlyPages, `pages_sharing ${run.converged!.ksm.pagesSharing}, read-only pages ${readOnlyPages}`);
    assert.ok(run.converged!.ksm.pagesShared > 0);
    assert.deepEqual(readSettings(), before);
    assert.deepEqual(leftovers(), dirsBefore);
    assert.equal(fs.existsSync(stateFile()), false);
  });

  it('a killed run leaves nothing behind after the next start', async () => {
    const hello = set!.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const before = readSettings();
    const fixture = path.join(import.meta.dirname, 'fixtures', 'killed-run.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, hello.elf], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    const ready = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code}`)));
    });
    const [, dir, pid] = ready.split(' ');
    assert.equal(readSettings().pages_to_scan, '1234', 'precondition: the run changed KSM');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(fs.existsSync(dir) && fs.existsSync(stateFile()), 'precondition: the killed run left its state');
    const { run, cleaned } = RunState.begin();
    run.end();
    assert.ok(cleaned.includes(dir), `cleaned: ${cleaned.join(', ')}`);
    assert.ok(cleaned.includes('KSM settings'));
    assert.equal(fs.existsSync(dir), false);
    assert.equal(processStart(Number(pid)), -1, 'the VMM is gone');
    assert.deepEqual(readSettings(), before);
    assert.equal(fs.existsSync(stateFile()), false);
  });
});
