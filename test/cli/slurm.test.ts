/**
 * `unimem sweep --emit slurm` on a real single-node Slurm cluster started by this test from Debian's
 * slurm-wlm and munge: munged, slurmctld and slurmd on localhost with their configuration, key, state
 * and spool in a temporary folder, unique ports and cluster name (other clusters on the machine are
 * left alone). The generated scripts are submitted as a user would (`bash DIR/submit.sh`); the
 * merged file must equal the unsharded sweep byte for byte. A cancelled shard must leave the merge
 * naming the missing points (exit 2), and re-running that shard alone must complete the sweep.
 *
 * Every daemon started here is stopped (jobs cancelled first), also when a test fails or the run is
 * interrupted, and the folder is removed. Where Slurm cannot run (not root, programs missing, a
 * daemon that does not come up) the tests are skipped with the reason.
 */
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { cli, write } from '../fixtures/cli.ts';

const PROGRAMS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scontrol', 'scancel', 'sinfo'];
const SEARCH = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin'].filter(Boolean);
const which = (p: string): string | undefined => SEARCH.map((d) => path.join(d, p)).find((f) => fs.existsSync(f));

/** Why Slurm cannot run here, or null. */
function slurmUnavailable(): string | null {
  if (process.platform !== 'linux') return `Slurm test needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'slurmd must run as root to start jobs (scripts/install.sh and CI run as root)';
  const missing = PROGRAMS.filter((p) => !which(p));
  return missing.length ? `not installed: ${missing.join(', ')} (scripts/install.sh installs slurm-wlm and munge)` : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Alive and not a zombie (a child that exited but is not reaped yet counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every process below `pid` (from /proc), so that none outlives the daemon that started it. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(/\) \S+ (\d+)/.exec(fs.readFileSync(`/proc/${entry}/stat`, 'utf8'))?.[1]);
      parent.set(ppid, [...(parent.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = [];
  for (let todo = [pid]; todo.length > 0; ) {
    const kids = todo.flatMap((p) => parent.get(p) ?? []);
    out.push(...kids);
    todo = kids;
  }
  return out;
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED']);

class SlurmCluster {
  readonly env: NodeJS.ProcessEnv;
  private readonly daemons: { name: string; pid: number }[] = [];
  private stopped = false;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.stop();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  private readonly onExit = () => this.stop();

  private constructor(readonly dir: string) {
    const env: NodeJS.ProcessEnv = {};
    // The jobs inherit the submitter's environment: keep it free of an enclosing Slurm job's and the test runner's.
    for (const [k, v] of Object.entries(process.env)) if (!/^(SLURM_|SBATCH_|SALLOC_|NODE_TEST_CONTEXT)/.test(k)) env[k] = v;
    env.SLURM_CONF = path.join(dir, 'slurm.conf');
    env.PATH = [...new Set(SEARCH)].join(':');
    this.env = env;
    process.on('exit', this.onExit);
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  /** Starts munged, slurmctld and slurmd; on failure stops what started and throws with the logs' last lines. */
  static async start(): Promise<SlurmCluster> {
    const c = new SlurmCluster(fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-slurm-')));
    try {
      await c.boot();
      return c;
    } catch (e) {
      const logs = ['munged.log', 'slurmctld.log', 'slurmd.log'].map((f) => `${f}: ${c.tail(f, 3)}`).join('; ');
      c.stop();
      throw new Error(`${(e as Error).message}; ${logs}`);
    }
  }

  private tail(file: string, lines: number): string {
    try {
      return fs.readFileSync(path.join(this.dir, file), 'utf8').trimEnd().split('\n').slice(-lines).join(' | ');
    } catch {
      return '(no log)';
    }
  }

  private spawnDaemon(name: string, args: string[]): void {
    const log = fs.openSync(path.join(this.dir, `${name}.log`), 'a');
    const child = spawn(which(name)!, args, { env: this.env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    if (child.pid === undefined) throw new Error(`${name} did not start`);
    child.unref();
    this.daemons.push({ name, pid: child.pid });
  }

  private async boot(): Promise<void> {
    const d = (f: string) => path.join(this.dir, f);
    for (const sub of ['state', 'spool']) fs.mkdirSync(d(sub));
    fs.writeFileSync(d('munge.key'), crypto.randomBytes(1024), { mode: 0o400 });
    const socket = d('munge.sock');
    // --force: the folder lives under world-writable /tmp, which munged otherwise refuses.
    this.spawnDaemon('munged', ['--foreground', '--force', `--socket=${socket}`, `--key-file=${d('munge.key')}`, `--pid-file=${d('munged.pid')}`, `--seed-file=${d('munged.seed')}`]);
    await this.until('munged socket', () => fs.existsSync(socket), 10_000);

    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    const host = os.hostname().split('.')[0];
    fs.writeFileSync(d('slurm.conf'), [
      `ClusterName=unimem${process.pid}`,
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${d('state')}`,
      `SlurmdSpoolDir=${d('spool')}`,
      `SlurmctldPidFile=${d('slurmctld.pid')}`,
      `SlurmdPidFile=${d('slurmd.pid')}`,
      // No systemd and no cgroup setup here: track job processes through /proc and bind no tasks.
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'SchedulerType=sched/builtin',
      'MpiDefault=none',
      'MailProg=/bin/true',
      'ReturnToService=2',
      // Cancelled jobs get SIGKILL 2 s after SIGTERM (default 30 s), so stopping the cluster is quick.
      'KillWait=2',
      `NodeName=unimem-node NodeHostname=${host} NodeAddr=127.0.0.1 CPUs=${os.cpus().length} State=UNKNOWN`,
      'PartitionName=test Nodes=unimem-node Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'));
    this.spawnDaemon('slurmctld', ['-D', '-f', d('slurm.conf')]);
    this.spawnDaemon('slurmd', ['-D', '-N', 'unimem-node', '-f', d('slurm.conf')]);
    await this.until('node idle', () => {
      for (const dm of this.daemons) if (!running(dm.pid)) throw new Error(`${dm.name} exited`);
      return this.run('sinfo', ['-h', '-o', '%T']).stdout.trim() === 'idle';
    }, 30_000);
  }

  private async until(what: string, ok: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`Slurm cluster did not come up: waited ${ms / 1000} s for ${what}`);
      await sleep(200);
    }
  }

  run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(which(cmd) ?? cmd, args, { env: this.env, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** The state of each job or array task (`<array>_<i>`: `scontrol show job <array>` leaves out a task cancelled while pending). */
  states(ids: string[]): Map<string, string> {
    return new Map(ids.map((id) => [id, /JobState=(\w+)/.exec(this.run('scontrol', ['show', 'job', '-o', id]).stdout)?.[1] ?? 'UNKNOWN']));
  }

  /** Waits until every one of the jobs or array tasks has ended; returns their states. */
  async wait(ids: string[], ms: number): Promise<Map<string, string>> {
    const end = Date.now() + ms;
    for (;;) {
      const s = this.states(ids);
      if ([...s.values()].every((v) => TERMINAL.has(v))) return s;
      if (Date.now() > end) throw new Error(`jobs ${ids.join(', ')} not done after ${ms / 1000} s: ${JSON.stringify([...s])}`);
      await sleep(300);
    }
  }

  /** Cancels every job, stops the daemons this cluster started (by pid) and removes the folder. Synchronous, so exit and signal handlers can use it. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    const ctld = this.daemons.find((dm) => dm.name === 'slurmctld');
    if (ctld && running(ctld.pid)) {
      const jobs = this.run('squeue', ['-h', '-o', '%A']).stdout.split('\n').filter(Boolean);
      if (jobs.length) this.run('scancel', [...new Set(jobs)]);
      // Let slurmd end the job steps (KillWait=2) before it goes, so no slurmstepd outlives the cluster.
      for (let end = Date.now() + 10_000; Date.now() < end && this.run('squeue', ['-h']).stdout.trim() !== ''; ) sleepSync(200);
    }
    for (const name of ['slurmd', 'slurmctld', 'munged']) {
      const dm = this.daemons.find((x) => x.name === name);
      if (!dm || !running(dm.pid)) continue;
      // slurmctld runs slurmscriptd, slurmd may still have a slurmstepd: stop them too if the daemon leaves them.
      const family = descendants(dm.pid);
      process.kill(dm.pid, 'SIGTERM');
      for (let end = Date.now() + 15_000; Date.now() < end && running(dm.pid); ) sleepSync(100);
      for (const pid of [dm.pid, ...family]) if (running(pid)) process.kill(pid, 'SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const unavailable = slurmUnavailable();

describe('unimem sweep --emit slurm on a real single-node Slurm cluster', { skip: unavailable ?? false }, () => {
  let cluster: SlurmCluster | undefined;
  let notStarted = '';
  // The sweeps' folder lives in the cluster's, so stopping the cluster (also on a signal) removes both.
  let work = '';
  let base = '';
  let whole = '';
  // A quick machine sweep: 4 points, about a second each.
  const vary = ['--vary', 'accesses=4000,8000', '--vary', 'seed=1,2'];

  before(async () => {
    try {
      cluster = await SlurmCluster.start();
    } catch (e) {
      notStarted = `Slurm could not start here: ${(e as Error).message}`;
      return;
    }
    work = path.join(cluster.dir, 'work');
    fs.mkdirSync(work);
    base = write(work, 'base.yaml', [
      'experiment: machine',
      'quick: true',
      'config:',
      '  workingSetMiB: 8',
      '  warmupAccesses: 2000',
      '  patterns: [uniform]',
      '  modes: [native-4K, nested-4K/4K]',
      '',
    ].join('\n'));
    whole = path.join(work, 'whole.json');
    const r = await cli(['sweep', base, ...vary, '--jobs', '1', '--out', whole, '--csv', path.join(work, 'whole.csv')]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => cluster?.stop());

  const emit = async (dir: string, shards: number) => {
    const r = await cli(['sweep', base, ...vary, '--emit', 'slurm', '--shards', String(shards), '--out', dir]);
    assert.equal(r.code, 0, r.stderr);
  };
  const submit = (c: SlurmCluster, dir: string, extra: string[] = []) => {
    const r = c.run('bash', [path.join(dir, 'submit.sh'), ...extra]);
    assert.equal(r.status, 0, r.stderr);
    const array = /^shards: job (\d+)$/m.exec(r.stdout)?.[1];
    const merge = /^merge: job (\d+) /m.exec(r.stdout)?.[1];
    assert.ok(array && merge, r.stdout);
    return { array, merge };
  };
  const logs = (dir: string) =>
    fs.readdirSync(path.join(dir, 'logs')).map((f) => `${f}: ${fs.readFileSync(path.join(dir, 'logs', f), 'utf8').trim()}`).join('\n');
  const started = (t: TestContext): SlurmCluster | undefined => {
    if (!cluster) t.skip(notStarted);
    return cluster;
  };

  it('runs the emitted job array and the dependent merge job; the merged file is the unsharded sweep', async (t) => {
    const c = started(t);
    if (!c) return;
    const dir = path.join(work, 'four');
    await emit(dir, 4);
    const { array, merge } = submit(c, dir);
    const tasks = [0, 1, 2, 3].map((i) => `${array}_${i}`);
    const states = await c.wait([...tasks, merge], 240_000);
    assert.deepEqual([...states.values()], ['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED'], logs(dir));
    assert.equal(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8'), fs.readFileSync(whole, 'utf8'));
    assert.equal(fs.readFileSync(path.join(dir, 'sweep.csv'), 'utf8'), fs.readFileSync(path.join(work, 'whole.csv'), 'utf8'));
    // One point per shard, each written by its own array task.
    for (let i = 0; i < 4; i++) assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'results', `shard-${i}.json`), 'utf8')).shard, { index: i, count: 4 });
  });

  it('a cancelled shard cancels the merge job, merge names its points (exit 2), and re-running that shard alone completes the sweep', async (t) => {
    const c = started(t);
    if (!c) return;
    const dir = path.join(work, 'two');
    await emit(dir, 2);
    // Held at submission, so shard 1 is cancelled before it can run, whatever the machine's speed.
    const first = submit(c, dir, ['--hold']);
    assert.equal(c.run('scancel', [`${first.array}_1`]).status, 0);
    assert.equal(c.run('scontrol', ['release', first.array]).status, 0);
    // A task cancelled while pending leaves the array (its record goes, the others remain).
    assert.match(c.run('scontrol', ['show', 'job', '-o', first.array]).stdout, /ArrayTaskId=0 /);
    assert.match(c.run('scontrol', ['show', 'job', `${first.array}_1`]).stdout + c.run('scontrol', ['show', 'job', `${first.array}_1`]).stderr, /not found/);
    const states = await c.wait([`${first.array}_0`, first.merge], 240_000);
    // afterok can never be satisfied, so the merge job is cancelled rather than left pending.
    assert.deepEqual([...states.values()], ['COMPLETED', 'CANCELLED'], logs(dir));
    assert.match(c.run('scontrol', ['show', 'job', '-o', first.merge]).stdout, /Reason=DependencyNeverSatisfied/);
    assert.ok(!fs.existsSync(path.join(dir, 'sweep.json')));

    // The merge step run by hand (as the emitted message says) names the missing points: shard 1/2 has points 1 and 3.
    const m = c.run('bash', [path.join(dir, 'merge.sbatch')]);
    assert.equal(m.status, 2, m.stderr);
    assert.equal(m.stderr, 'unimem: merge: incomplete sweep: grid points 1, 3 of 4 are in none of the files (a shard is missing?)\n');

    const again = submit(c, dir, ['--array=1']);
    const done = await c.wait([`${again.array}_1`, again.merge], 240_000);
    assert.deepEqual([...done.values()], ['COMPLETED', 'COMPLETED'], logs(dir));
    assert.equal(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8'), fs.readFileSync(whole, 'utf8'));
  });
});
