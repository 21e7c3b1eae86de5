/**
 * Hostile configuration files and configurations that pass the schema but cannot run: each gets one
 * line naming the file, the field and the problem, exit 2, fast; `config check` and `run` give the
 * same answer because both call the same validation.
 */
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { valueDepth } from '../../src/base/nesting.ts';
import { CONFIG_LIMITS, parseConfigText } from '../../src/config/load.ts';
import { cli, tempDir, write } from '../fixtures/cli.ts';

describe('configuration files that attack the parser', () => {
  const cases: [string, string, string, RegExp][] = [
    ['an undefined alias', 'a.yaml', 'experiment: machine\nconfig: *nowhere\n', /^a\.yaml: invalid YAML: undefined alias .*: nowhere$/],
    [
      'an alias bomb (billion laughs)',
      'b.yaml',
      'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
      /^b\.yaml: invalid YAML: Excessive alias count/,
    ],
    ['a key given twice', 'c.yaml', 'experiment: machine\nseed: 1\nseed: 2\n', /^c\.yaml: invalid YAML: line 3, column 1: Map keys must be unique \('seed' is given twice\)$/],
    ['10,000 nested flow brackets', 'd.yaml', '['.repeat(10_000), /^d\.yaml: nested more than 32 levels deep/],
    ['5,000 nested JSON arrays', 'e.json', '['.repeat(5000) + ']'.repeat(5000), /^e\.json: nested more than 32 levels deep/],
    ['5,000 nested block lists', 'f.yaml', '- '.repeat(5000) + 'x\n', /^f\.yaml: nested more than 32 levels deep/],
    ['a mapping of 60,000 keys', 'g.yaml', Array.from({ length: 60_000 }, (_, i) => `k${i}: 1`).join('\n'), /^g\.yaml: \d+ bytes; a configuration file is at most 16384 bytes$/],
  ];
  for (const [name, file, text, message] of cases) {
    it(`refuses ${name} in one line, fast`, () => {
      const t0 = performance.now();
      assert.throws(() => parseConfigText(file, text), (e: Error) => e.name === 'ConfigError' && message.test(e.message));
      // Far above the few milliseconds these take, far below the seconds the unbounded parser took.
      assert.ok(performance.now() - t0 < 2000, `${name}: ${Math.round(performance.now() - t0)} ms`);
    });
  }

  it('parses the largest mapping the size limit allows in well under the time a quadratic key check takes', () => {
    const text = Array.from({ length: 1400 }, (_, i) => `k${i}: ${i}`).join('\n');
    assert.ok(text.length <= CONFIG_LIMITS.bytes);
    const value = parseConfigText('big.yaml', text) as Record<string, number>;
    assert.equal(Object.keys(value).length, 1400);
    assert.equal(value.k1399, 1399);
  });

  it('measures nesting without recursion', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(valueDepth(deep, 40), 41, 'stops counting past the limit');
    assert.equal(valueDepth({ a: { b: [1] } }, 40), 3);
  });
});

describe('configurations the schema allows but the run cannot do', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  const cases: [string, string, RegExp][] = [
    ['machine at the schema\'s largest working set', 'experiment: machine\nconfig:\n  workingSetMiB: 65536\n', /config\.workingSetMiB: 65536 MiB and its page tables do not fit the machine's 65536 MiB; at most 64512/],
    ['machine with 1 GiB pages rounding past the memory', 'experiment: machine\nconfig:\n  workingSetMiB: 63000\n  modes: [nested-1G/1G]\n', /config\.workingSetMiB: .*at most 61440/],
    ['ucat (store models) with more records than its VMs hold', 'experiment: ucat\nconfig:\n  workload: model\n  ycsbRecordCount: 100000000\n', /config\.ycsbRecordCount: 100000000 records of 1 KB do not fit a VM of vmDramMiB \+ vmNvmMiB = \d+ MiB; at most \d+/],
    ['ucat with no NVM in the VMs', 'experiment: ucat\nconfig:\n  vmNvmMiB: 0\n', /config\.vmNvmMiB: out of range/],
    ['ucat without the stock OSv configuration', 'experiment: ucat\nconfig:\n  configurations: [ucat, ucat-4k]\n', /config\.configurations: must include 'osv' and 'ucat'/],
    ['dedup-faas whose heap and stack exceed the VM', 'experiment: dedup-faas\nconfig:\n  vmMemoryMiB: 4\n  heapInitKiB: 65536\n', /config\.heapInitKiB: heapInitKiB \+ stackKiB \(65600 KiB\) do not fit in vmMemoryMiB 4/],
    ['dedup-faas with a launch rate that starts no VM', 'experiment: dedup-faas\nconfig:\n  launchPerSecond: 1e-320\n', /config\.launchPerSecond: .* starts no VM after the first/],
    ['tlb-flushes with a launch rate that starts no VM', 'experiment: tlb-flushes\nconfig:\n  launchPerSecond: 0.001\n', /config\.launchPerSecond: /],
    ['dedup-faas on cores with more vCPUs than the machine model tags', 'experiment: dedup-faas\nconfig:\n  instances: 9000\n  executeOnCores: "on"\n', /config\.executeOnCores: on runs one vCPU per instance and the machine model tags at most 8191 \(instances 9000\)/],
  ];
  for (const [name, text, message] of cases) {
    it(`${name}: config check and run refuse it alike`, async () => {
      const file = write(tmp.dir, `${name.replace(/\W+/g, '-')}.yaml`, text);
      const check = await cli(['config', 'check', file]);
      const run = await cli(['run', file]);
      for (const r of [check, run]) {
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, message);
        assert.ok(r.stderr.startsWith(`unimem: ${file}: `));
        assert.equal(r.stderr.split('\n').length, 2, 'one line');
      }
      assert.equal(run.stderr, check.stderr);
    });
  }
});
