/**
 * Configuration files at the edge: good files run; bad ones give one line naming the file, the field
 * path and the problem, exit 2, and write nothing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, tempDir, write } from '../fixtures/cli.ts';
import { withToy } from '../fixtures/registry.ts';

describe('configuration files', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  /** Run a config file with --out and check the one-line error and that nothing was written. */
  async function expectError(name: string, text: string, expected: string | RegExp) {
    const file = write(tmp.dir, name, text);
    const out = path.join(tmp.dir, `out-${name}`);
    const r = await withToy(() => cli(['run', file, '--out', out]));
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    if (typeof expected === 'string') assert.equal(r.stderr, `unimem: ${file}: ${expected}\n`);
    else assert.match(r.stderr, new RegExp(`^unimem: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${expected.source}\n$`));
    assert.equal(fs.existsSync(out), false, 'no output on a bad configuration');
  }

  it('runs a valid YAML file with overrides merged onto the defaults', async () => {
    const file = write(tmp.dir, 'ok.yaml', 'experiment: toy\nseed: 3\nquick: true\nconfig:\n  vms: 5\n  ksm:\n    scanRate: 0.5\n');
    const r = await withToy(() => cli(['run', file, '--json']));
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.seed, 3);
    assert.equal(result.quick, true);
    assert.deepEqual(result.config, { vms: 5, privateMiB: 16, sharedMiB: 24, sharing: 'aligned', work: 1000, ksm: { scanRate: 0.5 } });
  });

  it('runs a valid JSON file', async () => {
    const file = write(tmp.dir, 'ok.json', JSON.stringify({ experiment: 'toy', quick: true, config: { vms: 3 } }));
    const r = await withToy(() => cli(['run', file, '--json']));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).config.vms, 3);
  });

  it('rejects an unknown key, naming it and the keys allowed there', () =>
    expectError('unknown.yaml', 'experiment: toy\nconfig:\n  vmz: 4\n', 'config.vmz: unknown key (known here: vms, privateMiB, sharedMiB, sharing, work, ksm)'));

  it('rejects an unknown nested key', () =>
    expectError('nested.yaml', 'experiment: toy\nconfig:\n  ksm:\n    scanrate: 0.5\n', 'config.ksm.scanrate: unknown key (known here: scanRate)'));

  it('rejects an unknown key in the envelope', () =>
    expectError('envelope.yaml', 'experiment: toy\nsede: 4\n', 'sede: unknown key (known here: experiment, seed, quick, config)'));

  it('rejects a value of the wrong type', () =>
    expectError('type.yaml', 'experiment: toy\nconfig:\n  vms: many\n', 'config.vms: expected number, received string'));

  it('rejects an out-of-range value', () =>
    expectError('range.yaml', 'experiment: toy\nconfig:\n  ksm: { scanRate: 1.5 }\n', 'config.ksm.scanRate: out of range: expected number to be <=1'));

  it('rejects a value outside an enumeration', () =>
    expectError('enum.yaml', 'experiment: toy\nconfig:\n  sharing: sometimes\n', 'config.sharing: expected one of "none"|"ksm"|"aligned"'));

  it('rejects invalid YAML with its line and column', () =>
    expectError('bad.yaml', 'experiment: toy\nconfig: [1, 2\nseed: 3\n', 'invalid YAML: line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]'));

  it('rejects duplicate YAML keys', () =>
    expectError('dup.yaml', 'experiment: toy\nseed: 1\nseed: 2\n', "invalid YAML: line 3, column 1: Map keys must be unique ('seed' is given twice)"));

  it('rejects invalid JSON', () => expectError('bad.json', '{"experiment": "toy",}', "invalid JSON: Expected double-quoted property name in JSON at position 21"));

  it('rejects an unknown experiment', () => expectError('which.yaml', 'experiment: nope\n', /experiment: unknown experiment 'nope' \(known: [a-z, -]*toy[a-z, -]*\)/));

  it('rejects a seed that is not an integer', () =>
    expectError('seed.yaml', 'experiment: toy\nseed: 1.5\n', 'seed: expected int, received number'));

  it('names a missing file', async () => {
    const r = await withToy(() => cli(['run', path.join(tmp.dir, 'absent.yaml')]));
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `unimem: ${path.join(tmp.dir, 'absent.yaml')}: no such file\n`);
  });

  it('checks a file without running it', async () => {
    const file = write(tmp.dir, 'check.yaml', 'experiment: toy\nconfig: { vms: 2 }\n');
    const r = await withToy(() => cli(['config', 'check', file]));
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${file}: valid toy configuration\n`);
  });
});
