/**
 * The generated docs (docs/parameters.md, experiments.md, cli.md) match the code: the committed
 * files are what `unimem docs` writes now. Every parameter is documented at its source.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { memorySystem } from '../../src/base/system.ts';
import { buildProgram } from '../../src/cli/main.ts';
import { configFileJsonSchema, listParameters } from '../../src/config/schema.ts';
import { experiments } from '../../src/experiments/index.ts';
import { generatedDocs, parametersMarkdown } from '../../src/report/docs.ts';
import { cli } from '../fixtures/cli.ts';
import { toy } from '../fixtures/registry.ts';

const DOCS = new URL('../../docs/', import.meta.url).pathname;

describe('generated docs', () => {
  for (const d of generatedDocs(experiments, buildProgram(memorySystem()))) {
    it(`docs/${d.name} is up to date (regenerate with: unimem docs)`, () => {
      assert.equal(fs.readFileSync(DOCS + d.name, 'utf8'), d.content, `docs/${d.name} is stale: run node bin/unimem.js docs`);
    });
  }

  it('`unimem docs --check` agrees', async () => {
    const r = await cli(['docs', '--check', '--out', DOCS]);
    assert.equal(r.code, 0, r.stderr);
  });

  it('every parameter of every registered experiment says what it is and where its value comes from', () => {
    for (const exp of experiments) {
      for (const p of listParameters(exp)) {
        assert.ok(p.description, `${exp.name}: ${p.path} has no .describe()`);
        assert.ok(p.source, `${exp.name}: ${p.path} has no .meta({ source })`);
      }
    }
  });

  it('documents a parameter with its type, range, defaults, unit, meaning and source', () => {
    const md = parametersMarkdown([toy]);
    assert.ok(md.includes('| `ksm.scanRate` | number | ≥ 0, ≤ 1 | `0.25` |  | fraction/tick | fraction of identical pages merged per tick | test fixture |'), md);
    assert.ok(md.includes('| `vms` | integer | ≥ 1, ≤ 1000 | `32` | `8` | VMs | VMs started, one per tick | test fixture |'));
  });

  it('publishes a JSON Schema with one branch per experiment, overrides all optional', () => {
    const schema = configFileJsonSchema([toy]);
    const branch = (schema.oneOf ?? [])[0];
    assert.equal(branch.properties?.experiment.const, 'toy');
    const config = branch.properties!.config;
    assert.equal(config.required, undefined);
    assert.equal(config.properties?.ksm.required, undefined);
    assert.equal(config.properties?.vms.unit, 'VMs');
    assert.equal(config.properties?.vms.source, 'test fixture');
    assert.equal(config.additionalProperties, false);
  });
});
