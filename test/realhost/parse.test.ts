/**
 * The real host's readers and the comparison arithmetic, on hand-written inputs (no KVM needed):
 * smaps_rollup and smaps split by guest address, perf script lines by task and reason, relative
 * errors and the time to converge.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convergeSecond, largestError, relativeError } from '../../src/realhost/compare.ts';
import { countFlushes, taskOf } from '../../src/realhost/perf.ts';
import { settingsOf } from '../../src/realhost/ksm.ts';
import { parseRollup, parseSplit } from '../../src/realhost/smaps.ts';

describe('smaps readers', () => {
  it('reads the rollup fields in bytes', () => {
    const r = parseRollup('00400000-7fff [rollup]\nRss:                 876 kB\nPss:                 225 kB\nPss_Dirty:  1 kB\nPss_Anon:            124 kB\nPss_File:             96 kB\nPss_Shmem:             5 kB\n');
    assert.deepEqual(r, { rss: 876 * 1024, pss: 225 * 1024, pssAnon: 124 * 1024, pssFile: 96 * 1024, pssShmem: 5 * 1024 });
  });
  it('splits guest memory (at or above 0x100000000000) from the VMM and finds pool pages', () => {
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
    ].join('\n');
    assert.deepEqual(parseSplit(text), { guestPss: 32 * 1024, vmmPss: 22 * 1024, vmmPrivate: 20 * 1024, poolPss: 4 * 1024, poolRss: 32 * 1024 });
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
  it('converges at the first second with 95 % of the final pages_sharing', () => {
    assert.equal(convergeSecond([0, 0, 10, 50, 96, 100, 100]), 4);
    assert.equal(convergeSecond([0, 0, 0]), null);
    assert.equal(convergeSecond([]), null);
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
