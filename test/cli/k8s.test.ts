/**
 * `unimem sweep --emit k8s`: the manifests validate against the Kubernetes JSON schemas (Job,
 * ConfigMap, PersistentVolumeClaim; from the kubernetes-models package), the Job is indexed with
 * one completion per shard, and the pods' commands, run here with JOB_COMPLETION_INDEX set and the
 * volumes mapped to a temporary folder, give a merged file equal to the unsharded sweep.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Job } from 'kubernetes-models/batch/v1/Job';
import YAML from 'yaml';
import { cli, tempDir, write } from '../fixtures/cli.ts';
import { withToy } from '../fixtures/registry.ts';

const UNIMEM_BIN = fileURLToPath(new URL('../../bin/unimem.js', import.meta.url));

type Manifest = { kind: string; metadata: { name: string }; spec: any; data?: Record<string, string> };

function readDocs(file: string): Manifest[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Manifest);
}

/** Validates with the schema of the manifest's kind; throws with the schema's complaints. */
function validate(m: Manifest): void {
  const model = { Job, ConfigMap, PersistentVolumeClaim }[m.kind];
  assert.ok(model, `unexpected kind ${m.kind}`);
  new model(m as never).validate();
}

describe('unimem sweep --emit k8s', () => {
  let tmp: ReturnType<typeof tempDir>;
  let base = '';
  before(() => {
    tmp = tempDir('unimem-k8s-test-');
    base = write(tmp.dir, 'my base.yaml', 'experiment: toy\nquick: true\nconfig:\n  work: 20\n');
  });
  after(() => tmp.cleanup());
  const vary = ['--vary', 'vms=2,3,5', '--vary', 'sharing=none,aligned'];

  it('writes an indexed Job (one completion per shard) and a merge Job that validate against the Kubernetes schemas', async () => {
    const dir = path.join(tmp.dir, 'k8s');
    const r = await withToy(() => cli(['sweep', base, ...vary, '--emit', 'k8s', '--shards', '4', '--jobs', '2', '--image', 'registry.example/unimem:1', '--out', dir]));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kubectl apply -f .*sweep-job\.yaml\n/);
    assert.match(r.stdout, /kubectl logs job\/unimem-sweep-toy-merge > sweep\.json/);
    const docs = [...readDocs(path.join(dir, 'results-pvc.yaml')), ...readDocs(path.join(dir, 'sweep-job.yaml')), ...readDocs(path.join(dir, 'merge-job.yaml'))];
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), [
      'PersistentVolumeClaim/unimem-results',
      'ConfigMap/unimem-sweep-toy-config',
      'Job/unimem-sweep-toy',
      'Job/unimem-sweep-toy-merge',
    ]);
    for (const d of docs) validate(d);

    const [, config, job] = docs;
    assert.equal(config.data!['base.yaml'], fs.readFileSync(base, 'utf8'));
    assert.equal(job.spec.completionMode, 'Indexed');
    assert.equal(job.spec.completions, 4);
    assert.equal(job.spec.parallelism, 4);
    const container = job.spec.template.spec.containers[0];
    assert.equal(container.image, 'registry.example/unimem:1');
    assert.deepEqual(container.resources.requests, { cpu: '2' });
    assert.equal(
      container.command[2],
      'exec unimem sweep /config/base.yaml --vary vms=2,3,5 --vary sharing=none,aligned --jobs 2 --shard "$JOB_COMPLETION_INDEX/4" --out /results/unimem-sweep-toy/shard-"$JOB_COMPLETION_INDEX".json',
    );
  });

  it('the schema check bites: a wrong completion mode, a count given as text or a container without name fail', () => {
    const job = readDocs(path.join(tmp.dir, 'k8s', 'sweep-job.yaml'))[1];
    const broken = structuredClone(job);
    broken.spec.completionMode = 'indexed';
    broken.spec.completions = '4';
    delete broken.spec.template.spec.containers[0].name;
    assert.throws(() => validate(broken), (e: Error) =>
      /completionMode must be equal to one of the allowed values/.test(e.message) && /completions must be integer/.test(e.message) && /must have required property 'name'|must have required property name/.test(e.message),
    );
  });

  it("the pods' commands, with JOB_COMPLETION_INDEX and the volumes mapped here, merge into the unsharded sweep", async () => {
    const dir = path.join(tmp.dir, 'run');
    // The toy experiment exists only inside the tests, so the pods run a real one, small.
    const machineBase = write(tmp.dir, 'machine.yaml', 'experiment: machine\nquick: true\nconfig:\n  workingSetMiB: 8\n  warmupAccesses: 1000\n  patterns: [uniform]\n  modes: [native-4K]\n');
    const mvary = ['--vary', 'accesses=2000,3000,4000'];
    const machineWhole = path.join(tmp.dir, 'machine-whole.json');
    const mw = await cli(['sweep', machineBase, ...mvary, '--jobs', '1', '--out', machineWhole]);
    assert.equal(mw.code, 0, mw.stderr);
    const e = await cli(['sweep', machineBase, ...mvary, '--emit', 'k8s', '--shards', '2', '--out', dir]);
    assert.equal(e.code, 0, e.stderr);

    // The pod's view: /config holds the ConfigMap's files, /results is the claim, `unimem` is on PATH.
    const [configMap, job] = readDocs(path.join(dir, 'sweep-job.yaml'));
    const [merge] = readDocs(path.join(dir, 'merge-job.yaml'));
    const root = path.join(tmp.dir, 'pod');
    const bin = path.join(root, 'bin');
    for (const sub of ['config', 'bin']) fs.mkdirSync(path.join(root, sub), { recursive: true });
    for (const [name, text] of Object.entries(configMap.data!)) write(path.join(root, 'config'), name, text);
    fs.writeFileSync(path.join(bin, 'unimem'), `#!/bin/sh\nexec '${process.execPath}' '${UNIMEM_BIN}' "$@"\n`, { mode: 0o755 });
    const pod = (command: string[], index?: number) => {
      const [sh, flag, script] = command;
      const mapped = script.replaceAll('/config/', `${root}/config/`).replaceAll('/results/', `${root}/results/`);
      const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}`, ...(index === undefined ? {} : { JOB_COMPLETION_INDEX: String(index) }) };
      delete env.NODE_TEST_CONTEXT;
      return spawnSync(sh, [flag, mapped], { env, encoding: 'utf8' });
    };
    for (let i = 0; i < job.spec.completions; i++) {
      const r = pod(job.spec.template.spec.containers[0].command, i);
      assert.equal(r.status, 0, r.stderr);
    }
    const m = pod(merge.spec.template.spec.containers[0].command);
    assert.equal(m.status, 0, m.stderr);
    // Collected as the emitted message says: the merge pod's log is the merged file.
    assert.equal(m.stdout, fs.readFileSync(machineWhole, 'utf8'));
    assert.equal(fs.readFileSync(path.join(root, 'results', 'unimem-sweep-machine', 'sweep.json'), 'utf8'), fs.readFileSync(machineWhole, 'utf8'));
  });
});
