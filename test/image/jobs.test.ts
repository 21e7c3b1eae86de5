/**
 * The job pool of the image builds (`runJobs`): every job runs, at most the allowed number at a
 * time, outputs come back in job order, each finished job is reported, and a failure stops the
 * batch with the failing command and its standard error.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { UserError } from '../../src/base/errors.ts';
import { runJobs } from '../../src/image/toolchain.ts';

function withJobs<T>(n: string, f: () => T): T {
  const saved = process.env.UNIMEM_JOBS;
  process.env.UNIMEM_JOBS = n;
  try {
    return f();
  } finally {
    if (saved === undefined) delete process.env.UNIMEM_JOBS;
    else process.env.UNIMEM_JOBS = saved;
  }
}

describe('runJobs', () => {
  it('runs every job, returns captured output in job order and reports each one done', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-jobs-'));
    try {
      const jobs = Array.from({ length: 12 }, (_, i) => ({ output: '', argv: ['sh', '-c', `sleep 0.0${9 - (i % 10)}; echo job ${i}; touch f${i}`], capture: i % 2 === 0 }));
      const seen: number[] = [];
      const out = withJobs('3', () => runJobs(jobs, dir, (done, total) => seen.push(done * 100 + total)));
      assert.deepEqual(out, jobs.map((j, i) => (j.capture ? `job ${i}\n` : '')));
      for (let i = 0; i < 12; i++) assert.ok(fs.existsSync(path.join(dir, `f${i}`)), `job ${i} ran in the folder given`);
      assert.equal(seen[seen.length - 1], 12 * 100 + 12);
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'done counts only grow');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs at most the allowed number of jobs at once', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-jobs-'));
    try {
      // Each job holds a file in running/ while it runs and prints how many others it saw there.
      const job = (i: number) => ({ output: '', argv: ['sh', '-c', `n=$(ls running | wc -l); touch running/${i}; echo $n; sleep 0.05; rm running/${i}`], capture: true });
      fs.mkdirSync(path.join(dir, 'running'));
      const out = withJobs('2', () => runJobs(Array.from({ length: 8 }, (_, i) => job(i)), dir));
      for (const o of out) assert.ok(Number(o) <= 1, `at most one other job ran beside this one (saw ${o.trim()})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops on a failing job and names it with its standard error; a missing tool is a user error', () => {
    const dir = os.tmpdir();
    assert.throws(
      () => runJobs([{ output: '', argv: ['true'] }, { output: '', argv: ['sh', '-c', 'echo broken input >&2; exit 3'] }], dir),
      (e: Error) => /sh -c echo broken input >&2; exit 3 failed \(status 3\):\nbroken input/.test(e.message) && !(e instanceof UserError),
    );
    assert.throws(() => runJobs([{ output: '', argv: ['unimem-no-such-tool'] }], dir), (e: Error) => e instanceof UserError && /unimem-no-such-tool is needed/.test(e.message));
    assert.throws(() => runJobs([{ output: '', argv: ['sleep', '5'], timeoutMs: 100 }], dir), /sleep 5 failed/);
  });

  it('reports the lowest-numbered failing job, whichever fails first in time', () => {
    const dir = os.tmpdir();
    // Job 0 fails after job 1 has failed; the report names job 0 all the same.
    const jobs = [
      { output: '', argv: ['sh', '-c', 'sleep 0.3; echo slow >&2; exit 4'] },
      { output: '', argv: ['sh', '-c', 'echo fast >&2; exit 5'] },
    ];
    withJobs('2', () => assert.throws(() => runJobs(jobs, dir), (e: Error) => /exit 4 failed \(status 4\):\nslow/.test(e.message)));
  });
});
