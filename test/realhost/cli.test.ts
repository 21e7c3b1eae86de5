/**
 * The real host on the command line: `host check` lists every item; without a usable KSM (or KVM,
 * or root) `run --host real|both` says why in one line and exits 2; a bad --host value is a
 * one-line error too. These need no KVM: the unusable host is made by pointing the KSM directory
 * elsewhere.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { cli } from '../fixtures/cli.ts';

const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'unimem.js');
const run = (args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('unimem host / --host', () => {
  it('host check --json lists each item with a value, and a reason when unusable', async () => {
    const r = await cli(['host', 'check', '--json']);
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout) as { usable: boolean; checks: { name: string; ok: boolean; value: string; reason?: string }[] };
    const names = out.checks.map((c) => c.name);
    for (const n of ['root', 'kvm', 'vmm', 'ksm', 'smaps_rollup', 'perf tlb:tlb_flush', 'thp', 'limits']) assert.ok(names.includes(n), n);
    for (const c of out.checks) if (!c.ok) assert.ok(c.reason && !c.reason.includes('\n'), `${c.name} has a one-line reason`);
    assert.equal(out.usable, out.checks.filter((c) => ['root', 'kvm', 'vmm', 'ksm'].includes(c.name)).every((c) => c.ok));
  });

  it('without a usable KSM, run --host real exits 2 with one line naming the reason', () => {
    const r = run(['run', 'dedup-faas', '--host', 'real', '--quick'], { UNIMEM_KSM_DIR: '/nonexistent-ksm' });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'unimem: the real host is unavailable: /nonexistent-ksm is missing (kernel without CONFIG_KSM)\n');
  });

  it('host profile refuses fewer than two instances, an --out under a folder that does not exist and an --out that is a folder, before touching the host', async () => {
    const one = await cli(['host', 'profile', '--instances', '1']);
    assert.equal(one.code, 2);
    assert.equal(one.stderr, "unimem: --instances: 1 instances cannot tell per-instance pages from shared ones; give at least 2\n");
    const out = await cli(['host', 'profile', '--out', '/nonexistent-unimem/profile.json']);
    assert.equal(out.code, 2);
    assert.equal(out.stderr, 'unimem: --out: /nonexistent-unimem is not a folder\n');
    assert.equal(out.stdout, '');
    const folder = await cli(['host', 'profile', '--out', path.dirname(BIN)]);
    assert.equal(folder.code, 2);
    assert.equal(folder.stderr, `unimem: --out: ${path.dirname(BIN)}: is a folder; give a file name\n`);
  });

  it('a bad --host value and an experiment without a real host are one-line errors', async () => {
    const bad = await cli(['run', 'dedup-faas', '--host', 'cloud']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--host: 'cloud' is not one of sim, real, both/);
    const r = run(['run', 'machine', '--host', 'real', '--quick']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^unimem: machine runs only on the simulated host/);
    assert.equal(r.stderr.split('\n').length, 2);
  });
});
