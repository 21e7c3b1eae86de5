/**
 * The micro-VMM on real KVM: an image boots with each loader and prints what it prints as a Linux
 * process; eight VMs of two images under the pool loader share the pool's pages (Pss from smaps);
 * bad inputs get one line and the VMM-error status. Skipped with the reason where KVM is unusable.
 */
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prepareImages } from '../../src/experiments/dedup/images.ts';
import { buildPool, imageKey } from '../../src/image/index.ts';
import { realHostUnavailable } from '../../src/realhost/check.ts';
import { writeSchedule } from '../../src/realhost/schedule.ts';
import { readRollup, readSplit } from '../../src/realhost/smaps.ts';
import { bootOnce, EXIT_VMM_ERROR, saveCpuid, vmmArgs, vmmBinary } from '../../src/realhost/vmm.ts';

const unavailable = realHostUnavailable(['kvm', 'vmm', 'tmpfs /dev/shm']);
const skip = unavailable ? { skip: unavailable } : {};

describe('unimem-vmm', skip, () => {
  // Same images as `run dedup-faas --quick` and the dedup-faas tests, so the demo cache is shared.
  const set = unavailable ? null : prepareImages(20, 1, 1, ['compact', 'aligned', 'aligned-aslr']);
  const manifest = set?.manifest;
  const output = (elf: string): string => manifest!.images.find((i) => i.elf === elf)!.output;
  let poolDir = '';

  before(() => {
    poolDir = fs.mkdtempSync('/dev/shm/unimem-test-pool-');
    buildPool(poolDir, set!.byVariant.get('aligned')!.slice(0, 2).map((i) => i.elf));
  });
  after(() => fs.rmSync(poolDir, { recursive: true, force: true }));

  it('boots a compact image with the standard loader and prints its Linux output', () => {
    const img = set!.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const r = bootOnce({ image: { elf: img.elf }, memMiB: 16 });
    assert.equal(r.messages, '');
    assert.equal(r.status, 0);
    assert.equal(r.console, output(img.elf));
    assert.ok(r.setupMicros > 0 && r.guestMicros > 0);
  });

  it('boots an ASLR image with the standard loader (trampolines in the CPL0 path)', () => {
    const img = set!.byVariant.get('aligned-aslr')![1];
    const r = bootOnce({ image: { elf: img.elf }, memMiB: 16, cmdline: 'unimem.instance=2 unimem.init_kib=320' });
    assert.equal(r.status, 0, r.messages);
    assert.equal(r.console, output(img.elf));
  });

  it('boots aligned images with the pool loader from their description files', () => {
    for (const img of set!.byVariant.get('aligned')!.slice(0, 2)) {
      const r = bootOnce({ image: { description: path.join(poolDir, 'images', `${imageKey(img.elf)}.json`) }, memMiB: 16 });
      assert.equal(r.status, 0, r.messages);
      assert.equal(r.console, output(img.elf));
    }
  });

  it('boots with the CPUID table saved once instead of asking KVM in every VMM', () => {
    const img = set!.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const cpuid = path.join(poolDir, 'cpuid.bin');
    saveCpuid(cpuid);
    // Whole kvm_cpuid_entry2 records (40 bytes each).
    assert.ok(fs.statSync(cpuid).size > 0 && fs.statSync(cpuid).size % 40 === 0);
    const r = bootOnce({ image: { elf: img.elf }, memMiB: 16, cpuid });
    assert.equal(r.status, 0, r.messages);
    assert.equal(r.console, output(img.elf));
    fs.writeFileSync(cpuid, 'short');
    const bad = bootOnce({ image: { elf: img.elf }, memMiB: 16, cpuid });
    assert.equal(bad.status, EXIT_VMM_ERROR);
    assert.match(bad.messages, /cpuid\.bin: not a saved CPUID table \(5 bytes\)$/);
  });

  it('rejects bad inputs in one line with the VMM-error status', () => {
    const missing = bootOnce({ image: { elf: '/nonexistent.elf' }, memMiB: 16 });
    assert.equal(missing.status, EXIT_VMM_ERROR);
    assert.match(missing.messages, /^unimem-vmm: \/nonexistent\.elf: cannot open/);
    assert.equal(missing.messages.split('\n').length, 1);
    const notElf = path.join(poolDir, 'pool.json');
    assert.match(bootOnce({ image: { elf: notElf }, memMiB: 16 }).messages, /not an ELF file/);
    assert.match(bootOnce({ image: { description: notElf }, memMiB: 16 }).messages, /not a unimem image description/);
    const tooSmall = bootOnce({ image: { elf: set!.byVariant.get('compact')![0].elf }, memMiB: 1 });
    assert.equal(tooSmall.status, EXIT_VMM_ERROR);
  });

  it('eight VMs of two images under the pool loader share the pool pages', async () => {
    const imgs = set!.byVariant.get('aligned')!.slice(0, 2);
    const children: ChildProcess[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const description = path.join(poolDir, 'images', `${imageKey(imgs[i % 2].elf)}.json`);
        children.push(spawn(vmmBinary(), vmmArgs({ image: { description }, memMiB: 16, hold: true }), { stdio: ['ignore', 'ignore', 'pipe'] }));
      }
      // Wait until every guest has run (the VMM says it holds its memory).
      await Promise.all(children.map(holding));
      const splits = children.map((c) => readSplit(c.pid!)!);
      for (const s of splits) {
        assert.ok(s.poolRss > 0, 'the pool is mapped');
        // Every pool page a guest touched is shared with at least the three other VMs of its image.
        assert.ok(s.poolPss * 4 <= s.poolRss + 4096, `pool Pss ${s.poolPss} against Rss ${s.poolRss}`);
      }
      // Counted once over all VMs, the mapped pool pages are at most the pool itself.
      const poolBytes = fs.readdirSync(path.join(poolDir, 'entries')).reduce((n, f) => n + fs.statSync(path.join(poolDir, 'entries', f)).size, 0);
      const totalPss = splits.reduce((n, s) => n + s.poolPss, 0);
      assert.ok(totalPss <= poolBytes + 8 * 4096, `pool Pss over all VMs ${totalPss} > pool ${poolBytes}`);
      assert.ok(totalPss < splits.reduce((n, s) => n + s.poolRss, 0) / 3);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    }
  });

  it('serves the invocations of a schedule at their times, then exits with the application\'s status', () => {
    const img = set!.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const file = path.join(poolDir, 'invocations.txt');
    writeSchedule(file, [{ atNs: 300e6, workingSetBytes: 1 << 20 }, { atNs: 600e6, workingSetBytes: 4096 }]);
    const epochNs = process.hrtime.bigint();
    const r = bootOnce({ image: { elf: img.elf }, memMiB: 16, cmdline: 'unimem.instance=2 unimem.init_kib=320', invocations: file, epochNs });
    assert.equal(r.status, 0, r.messages);
    assert.equal(r.console, output(img.elf));
    assert.equal(r.invocations, 2);
    assert.ok(r.clocksNs.exit - epochNs >= 600_000_000n, 'the guest ran until the last arrival');
    // Without a schedule the guest exits at once; a bad schedule is a VMM error in one line.
    assert.equal(bootOnce({ image: { elf: img.elf }, memMiB: 16 }).invocations, 0);
    fs.writeFileSync(file, '5 0\n');
    const bad = bootOnce({ image: { elf: img.elf }, memMiB: 16, invocations: file });
    assert.equal(bad.status, EXIT_VMM_ERROR);
    assert.match(bad.messages, /invocations\.txt: line 1: expected/);
  });

  it('an invocation writes its working set into guest memory (Rss grows by it)', async () => {
    const img = set!.byVariant.get('compact')!.find((i) => i.name === 'helloworld')!;
    const file = path.join(poolDir, 'one-invocation.txt');
    writeSchedule(file, [{ atNs: 0, workingSetBytes: 1 << 20 }]);
    const cmdline = 'unimem.instance=2 unimem.init_kib=320';
    const children = [vmmArgs({ image: { elf: img.elf }, memMiB: 16, hold: true, cmdline }), vmmArgs({ image: { elf: img.elf }, memMiB: 16, hold: true, cmdline, invocations: file })].map((args) =>
      spawn(vmmBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] }),
    );
    try {
      await Promise.all(children.map(holding));
      const [idle, invoked] = children.map((c) => readRollup(c.pid!)!.rss);
      const grown = invoked - idle;
      // 256 pages written; the application's own heap pages there were resident already.
      assert.ok(grown > (1 << 20) - 64 * 1024 && grown <= (1 << 20) + 8192, `Rss grew by ${grown} bytes`);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    }
  });
});

/** Resolves once the VMM says it holds its guest's memory (the guest has ended). */
function holding(c: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    let err = '';
    c.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('holding guest memory')) resolve();
    });
  });
}
