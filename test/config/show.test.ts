/** `unimem config show|schema|list`: defaults printed as a file that runs as is. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { cli, tempDir, write } from '../fixtures/cli.ts';
import { withToy } from '../fixtures/registry.ts';

describe('unimem config', () => {
  it('show prints commented YAML that runs to the same result as the experiment\'s defaults', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const shown = await withToy(() => cli(['config', 'show', 'toy', '--quick']));
      assert.equal(shown.code, 0);
      assert.match(shown.stdout, /^  vms: 8 # \[VMs\] VMs started, one per tick$/m);
      assert.deepEqual(YAML.parse(shown.stdout).config.ksm, { scanRate: 0.25 });
      const file = write(dir, 'toy.yaml', shown.stdout);
      const fromFile = await withToy(() => cli(['run', file, '--json']));
      const byName = await withToy(() => cli(['run', 'toy', '--quick', '--json']));
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.equal(fromFile.stdout, byName.stdout);
    } finally {
      cleanup();
    }
  });

  it('schema prints JSON Schema with a branch for each experiment', async () => {
    const r = await withToy(() => cli(['config', 'schema']));
    const schema = JSON.parse(r.stdout);
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.ok(schema.oneOf.some((b: { properties: { experiment: { const: string } } }) => b.properties.experiment.const === 'toy'));
  });

  it('show names an unknown experiment', async () => {
    const r = await cli(['config', 'show', 'nope']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^unimem: unknown experiment 'nope' \(.*\)\n$/);
  });

  it('list names the experiments', async () => {
    const r = await withToy(() => cli(['config', 'list']));
    assert.match(r.stdout, /^toy +Toy host: library sharing$/m);
  });
});
