/**
 * The real host's readers and the comparison arithmetic, on hand-written inputs (no KVM needed):
 * smaps_rollup and smaps split by guest address, perf script lines by task and reason, relative
 * errors and the time to converge.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { compareRuns, convergeTime, largestError, relativeError } from '../../src/realhost/compare.ts';
import { SHARING_CONFIGS, type ConfigRun } from '../../src/experiments/dedup/faas.ts';
import { ksmdWorkZero, type KsmCounters } from '../../src/host/index.ts';
import { countFlushes, ksmEventsUntil, ksmWork, parseKsmEvents, taskOf } from '../../src/realhost/perf.ts';
import { parseTiming, sourceNewerThan } from '../../src/realhost/vmm.ts';
import { settingsOf } from '../../src/realhost/ksm.ts';
import { parseRollup, parseSplit } from '../../src/realhost/smaps.ts';
import { tempDir } from '../fixtures/cli.ts';

describe('smaps readers', () => {
  it('reads the rollup fields in bytes', () => {
    const r = parseRollup('00400000-7fff [rollup]\nRss:                 876 kB\nPss:                 225 kB\nPss_Dirty:  1 kB\nPss_Anon:            124 kB\nPss_File:             96 kB\nPss_Shmem:             5 kB\n');
    assert.deepEqual(r, { rss: 876 * 1024, pss: 225 * 1024, pssAnon: 124 * 1024, pssFile: 96 * 1024, pssShmem: 5 * 1024 });
  });
  it('splits guest memory (the GiB from 0x100000000000) from the VMM (below it, and stacks and kvm_run above it) and finds pool pages', () => {
    const text = [
      '00400000-00401000 r--p 00000000 08:01 12 /usr/bin/unimem-vmm',
      'Rss:                  4 kB',
      'Pss:                  2 kB',
      'Private_Clean:        0 kB',
      'Private_Dirty:        0 kB',
      '01000000-01005000 rw-p 00000000 00:00 0                                  [heap]',
      'Rss:                 20 kB',
      'Pss:                 20 kB',
      'Private_Dirty:       20 kB',
      '100000000000-100000100000 rw-p 00000000 00:00 0 ',
      'Rss:                 28 kB',
      'Pss:                 28 kB',
      'Private_Dirty:       28 kB',
      '100000100000-100000108000 rw-p 00000000 00:1a 77 /dev/shm/unimem-run-x/pool/entries/ab',
      'Rss:                 32 kB',
      'Pss:                  4 kB',
      'Private_Clean:        0 kB',
      // Above guest memory: the vCPU's kvm_run page and the stack are the VMM's.
      '7fd87a689000-7fd87a68c000 rw-s 00000000 00:10 1038                       anon_inode:kvm-vcpu:0',
      'Rss:                  8 kB',
      'Pss:                  8 kB',
      'Private_Dirty:        0 kB',
      '7ffc57178000-7ffc57199000 rw-p 00000000 00:00 0                          [stack]',
      'Rss:                 16 kB',
      'Pss:                 16 kB',
      'Private_Dirty:       16 kB',
    ].join('\n');
    assert.deepEqual(parseSplit(text), { guestPss: 32 * 1024, vmmPss: 46 * 1024, vmmPrivate: 36 * 1024, poolPss: 4 * 1024, poolRss: 32 * 1024 });
  });
});

describe('TLB flush attribution', () => {
  it('counts by task and separates task switches from shootdowns', () => {
    const script = [
      '            ksmd    35 pages:1 reason:local mm shootdown (3)',
      '            ksmd    35 pages:1 reason:remote shootdown (1)',
      '    unimem-vcpu0  4242 pages:-1 reason:flush on task switch (0)',
      '    unimem-vcpu0  4242 pages:1 reason:remote ipi send (4)',
      '      unimem-vmm  4241 pages:0 reason:local shootdown (2)',
      ' kvm-nx-lpage-re  4243 pages:1 reason:local mm shootdown (3)',
      '     migration/0    18 pages:0 reason:flush on task switch (0)',
      'garbage line',
    ].join('\n');
    const c = countFlushes(script);
    assert.deepEqual(c.explicit, { ksmd: 2, vmm: 2, vcpu: 1, other: 0 });
    assert.deepEqual(c.taskSwitch, { ksmd: 0, vmm: 0, vcpu: 1, other: 1 });
    assert.equal(taskOf('node'), 'other');
  });
});

describe('KSM tracepoints', () => {
  // perf script -F time,event,trace, as this kernel prints them.
  const script = [
    '11205.078161:           ksm:ksm_stop_scan: seq 0 rmap size 322',
    '11205.100407: ksm:ksm_merge_with_ksm_page: pfn 1877749 rmap_item 0xffff88820b7b9a80 mm 0xffff88810006f080 error 0',
    '11205.100427: ksm:ksm_merge_with_ksm_page: ksm pfn 1877749 rmap_item 0xffff88820c6f7fc0 mm 0xffff888100069900 error 0',
    '11205.100432: ksm:ksm_merge_with_ksm_page: pfn 2099130 rmap_item 0xffff88820b7b9b00 mm 0xffff88810006f080 error 0',
    '11206.500000: ksm:ksm_merge_with_ksm_page: ksm pfn 2099130 rmap_item 0xffff88820c6f7e80 mm 0xffff888100069900 error 0',
    '11206.600000: ksm:ksm_merge_with_ksm_page: ksm pfn 2099131 rmap_item 0xffff88820c6f7e80 mm 0xffff888100069900 error -14',
    '11206.700000:      ksm:ksm_merge_one_page: ksm pfn 12 rmap_item 0xffff88820c6f7e80 mm 0xffff888100069900 error 0',
    '11207.000000:           ksm:ksm_stop_scan: seq 1 rmap size 322',
    "'trace' not valid for software events. Ignoring.",
  ].join('\n');

  it('tells new KSM pages from merges into one and zero-page merges, drops failed tries', () => {
    const t = parseKsmEvents(script);
    assert.deepEqual(ksmEventsUntil(t, Infinity), { newKsmPage: 2, mergedIntoKsmPage: 2, mergedWithZeroPage: 1, fullScan: 2 });
    assert.deepEqual(ksmEventsUntil(t, 11206), { newKsmPage: 2, mergedIntoKsmPage: 1, mergedWithZeroPage: 0, fullScan: 1 });
  });
  it('derives merges and flush calls as the simulator counts them', () => {
    // Two pairs merged (2 new KSM pages, 2 merged into them) and one zero-page merge: 3 merges;
    // write_protect_page for all 5 pages plus replace_page for the 3 merged ones.
    assert.deepEqual(ksmWork({ newKsmPage: 2, mergedIntoKsmPage: 2, mergedWithZeroPage: 1, fullScan: 2 }), { merges: 3, flushCalls: 8 });
  });
});

describe('VMM timing line', () => {
  it('reads the clocks, the phases, the CPU time and the invocations', () => {
    const t = parseTiming('Hello\nunimem-vmm: timing start_ns=100 entry_ns=2100 exit_ns=602100 setup_us=2.0 status=0 phases_us=open:0.1,memslot:1.5,thread:0.4 cpu_us=1.2 invocations=3\n');
    assert.deepEqual(t, { setupMicros: 2, guestMicros: 600, clocksNs: { start: 100n, entry: 2100n, exit: 602100n }, phases: { open: 0.1, memslot: 1.5, thread: 0.4 }, cpuMicros: 1.2, invocations: 3 });
    assert.equal(parseTiming('unimem-vmm: timing start_ns=1'), null);
  });
});

describe('comparison arithmetic', () => {
  it('relative error is sim / real - 1, undefined for a zero real figure', () => {
    assert.equal(relativeError(105, 100), 0.050000000000000044);
    assert.equal(relativeError(0, 0), 0);
    assert.equal(relativeError(3, 0), null);
  });
  it('largest error keeps its sign', () => {
    assert.equal(largestError([0.01, -0.2, null, 0.1]), -0.2);
    assert.equal(largestError([null]), null);
  });
  it('converges where pages_sharing crosses 95 % of its final value, between the samples around it', () => {
    // 95 lies 45/46 of the way from 50 (at 3 s) to 96 (at 4 s).
    assert.equal(convergeTime([0, 0, 10, 50, 96, 100, 100]), 3.978);
    assert.equal(convergeTime([0, 0, 10, 50, 95, 100]), 4);
    assert.equal(convergeTime([100, 100]), 0);
    assert.equal(convergeTime([0, 0, 0]), null);
    assert.equal(convergeTime([]), null);
  });
  it('KSM settings follow the description, the advisor off', () => {
    assert.deepEqual(settingsOf({ pagesToScan: 1000, sleepMillisecs: 20, maxPageSharing: 256, useZeroPages: false }), {
      run: '1',
      advisor_mode: 'none',
      pages_to_scan: '1000',
      sleep_millisecs: '20',
      max_page_sharing: '256',
      use_zero_pages: '0',
      smart_scan: '0',
    });
  });
});

describe('simulator against this machine', () => {
  const ksm = (merges: number, flushCalls: number, cpuMs: number): KsmCounters => ({
    ...ksmdWorkZero(),
    pagesShared: 10,
    pagesSharing: merges,
    pagesUnshared: 0,
    pagesVolatile: 0,
    stableNodeChains: 0,
    stableNodeDups: 0,
    ksmZeroPages: 0,
    rmapItems: 0,
    generalProfit: 0,
    merges,
    tlbFlushes: flushCalls,
    cpuNs: cpuMs * 1e6,
    pagesToScan: 100,
  });
  const run = (name: string, endMiB: number, k: KsmCounters | null, flushesKsm: number): ConfigRun => ({
    config: SHARING_CONFIGS.find((c) => c.name === name)!,
    memoryMiB: [endMiB],
    endBytes: endMiB * 1048576,
    ksmPagesSharing: k ? [0, k.pagesSharing] : [],
    ksm: k,
    converged: null,
    flushesKsm,
    flushesVm: 0,
    cowBreaks: 0,
    loadPagesCopied: 0,
    loadPagesMapped: 0,
    loadMicros: 0,
    poolPages: 0,
    invocations: 0,
    started: 1,
  });

  it('joins figure by figure: merges, ksmd CPU, flush calls, the largest error per figure', () => {
    const sim = [run('no sharing', 11, null, 0), run('compact + KSM', 8, ksm(120, 250, 30), 250)];
    const real = [run('no sharing', 10, null, 0), run('compact + KSM', 8, ksm(100, 200, 40), 200)];
    const c = compareRuns(sim, real, { flushes: true });
    assert.equal(c.summary.memoryError, 0.1);
    assert.equal(c.summary.ksmMergesError, 0.2);
    assert.equal(c.summary.ksmdCpuError, -0.25);
    assert.equal(c.summary.flushesError, 0.25);
    const row = (fig: string): (string | number)[] => c.table.rows.find((r) => r[0] === 'compact + KSM' && r[1] === fig)!;
    assert.deepEqual(row('TLB flush calls at ksmd').slice(2), [250, 200, 0.25, '±30 %', 'yes']);
    assert.deepEqual(row('ksmd CPU time (ms)').slice(5), ['-', '-'], 'no target, no verdict');
    // Without flush counting the flush figure is left out.
    assert.equal(compareRuns(sim, real, { flushes: false }).summary.flushesError, undefined);
  });
});

describe('VMM binary freshness', () => {
  it('names a source changed after the binary was built, and none when the binary is newer', () => {
    const { dir, cleanup } = tempDir('unimem-vmm-fresh-');
    try {
      const bin = path.join(dir, 'unimem-vmm');
      const src = path.join(dir, 'src');
      fs.mkdirSync(src);
      for (const f of ['vmm.c', 'json.h', 'build.sh', 'README']) fs.writeFileSync(path.join(src, f), f);
      fs.writeFileSync(bin, '');
      const at = (file: string, seconds: number) => fs.utimesSync(file, seconds, seconds);
      for (const f of ['vmm.c', 'json.h', 'build.sh', 'README']) at(path.join(src, f), 1000);
      at(bin, 2000);
      assert.equal(sourceNewerThan(bin, src), undefined);
      at(path.join(src, 'README'), 3000);
      assert.equal(sourceNewerThan(bin, src), undefined, 'only C sources, headers and build.sh count');
      at(path.join(src, 'json.h'), 3000);
      assert.equal(sourceNewerThan(bin, src), path.join(src, 'json.h'));
      assert.equal(sourceNewerThan(bin, path.join(dir, 'no-sources-here')), undefined);
    } finally {
      cleanup();
    }
  });
});
