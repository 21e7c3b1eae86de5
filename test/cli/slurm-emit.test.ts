/**
 * `unimem sweep --emit slurm`, without a cluster: what the scripts hold (array of N shards, --jobs
 * from SLURM_CPUS_PER_TASK, results and logs under DIR, the merge after --dependency=afterok), that
 * bash parses them, and one-line errors for flags that do not go together, with nothing written.
 * test/cli/slurm.test.ts runs the same scripts on a real cluster.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, tempDir, write } from '../fixtures/cli.ts';
import { withToy } from '../fixtures/registry.ts';

describe('unimem sweep --emit slurm (the files)', () => {
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir('unimem-slurm-emit-')));
  after(() => tmp.cleanup());
  const vary = ['--vary', 'vms=2,3,5', '--vary', 'seed=1,2'];

  it('writes the array script, the merge script and submit.sh under DIR, and copies the base file', async () => {
    const base = write(tmp.dir, 'base.yaml', 'experiment: toy\nquick: true\nconfig:\n  work: 20\n');
    const dir = path.join(tmp.dir, 'out');
    const r = await withToy(() => cli(['sweep', base, ...vary, '--emit', 'slurm', '--shards', '4', '--jobs', '3', '--seed', '7', '--out', dir]));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['base.yaml', 'logs', 'merge.sbatch', 'results', 'submit.sh', 'sweep.sbatch']);
    assert.equal(fs.readFileSync(path.join(dir, 'base.yaml'), 'utf8'), fs.readFileSync(base, 'utf8'));
    const sweep = fs.readFileSync(path.join(dir, 'sweep.sbatch'), 'utf8');
    assert.match(sweep, /^#SBATCH --array=0-3$/m);
    assert.match(sweep, /^#SBATCH --cpus-per-task=3$/m);
    assert.match(sweep, new RegExp(`^#SBATCH --output=${dir}/logs/shard-%a_%A\\.out$`, 'm'));
    assert.ok(
      sweep.endsWith(
        `unimem sweep ${dir}/base.yaml \\\n  --vary vms=2,3,5 \\\n  --vary seed=1,2 \\\n  --seed 7 \\\n` +
          `  --jobs "\${SLURM_CPUS_PER_TASK:-1}" \\\n  --shard "$shard/4" \\\n  --out ${dir}/results/shard-"$shard".json\n`,
      ),
      sweep,
    );
    const merge = fs.readFileSync(path.join(dir, 'merge.sbatch'), 'utf8');
    assert.match(merge, new RegExp(`^unimem merge ${dir}/results/shard-\\*\\.json --out ${dir}/sweep\\.json --csv ${dir}/sweep\\.csv$`, 'm'));
    const submit = fs.readFileSync(path.join(dir, 'submit.sh'), 'utf8');
    assert.match(submit, /sbatch --parsable "\$@" .*sweep\.sbatch/);
    assert.match(submit, /sbatch --parsable --dependency=afterok:"\$array" --kill-on-invalid-dep=yes .*merge\.sbatch/);
    for (const f of ['sweep.sbatch', 'merge.sbatch', 'submit.sh']) {
      const syntax = spawnSync('bash', ['-n', path.join(dir, f)], { encoding: 'utf8' });
      assert.equal(syntax.status, 0, `${f}: ${syntax.stderr}`);
    }
    assert.match(r.stdout, new RegExp(`^submit:  bash ${dir}/submit\\.sh$`, 'm'));
    assert.match(r.stdout, /6 grid points in 4 shards, 3 CPU\(s\) each/);
  });

  it('runs an experiment by name with --quick, one shard per point by default', async () => {
    const dir = path.join(tmp.dir, 'byname');
    const r = await withToy(() => cli(['sweep', 'toy', '--quick', '--vary', 'vms=2,3', '--emit', 'slurm', '--out', dir]));
    assert.equal(r.code, 0, r.stderr);
    const sweep = fs.readFileSync(path.join(dir, 'sweep.sbatch'), 'utf8');
    assert.match(sweep, /^#SBATCH --array=0-1$/m);
    assert.match(sweep, /^#SBATCH --cpus-per-task=1$/m);
    assert.match(sweep, /^unimem sweep toy \\\n {2}--vary vms=2,3 \\\n {2}--quick \\\n/m);
  });

  it('gives one-line errors for flags that do not go together, and writes nothing', async () => {
    const dir = path.join(tmp.dir, 'never');
    const cases: [string[], RegExp][] = [
      [['--emit', 'pbs'], /^unimem: --emit: 'pbs' is not one of slurm, k8s\n$/],
      [['--emit', 'slurm', '--shards', '7'], /^unimem: --shards 7: the sweep has only 6 grid points \(give at most 6\)\n$/],
      [['--emit', 'slurm', '--shard', '0/2'], /^unimem: --emit writes the jobs for every shard: give --shards N, not --shard i\/N\n$/],
      [['--shards', '2'], /^unimem: --shards: only with --emit slurm\|k8s/],
      [['--emit', 'slurm', '--image', 'x'], /^unimem: --image: only with --emit k8s\n$/],
      [['--emit', 'slurm', '--csv', 'x.csv'], /^unimem: --emit: --csv does not apply/],
      [['--emit', 'k8s', '--vary', 'work=1,-5'], /^unimem: toy defaults with --vary .*work=-5: config.work: /],
    ];
    for (const [extra, re] of cases) {
      const r = await withToy(() => cli(['sweep', 'toy', ...vary, ...extra, '--out', dir]));
      assert.equal(r.code, 2, extra.join(' '));
      assert.match(r.stderr, re);
    }
    const spaced = await withToy(() => cli(['sweep', 'toy', ...vary, '--emit', 'slurm', '--out', path.join(tmp.dir, 'a b')]));
    assert.equal(spaced.code, 2);
    assert.match(spaced.stderr, /^unimem: --out .*a b: Slurm's #SBATCH lines cannot hold a directory name with spaces\n$/);
    assert.ok(!fs.existsSync(dir) && !fs.existsSync(path.join(tmp.dir, 'a b')));
  });
});
