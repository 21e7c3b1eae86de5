// The job pool of `runJobs` (toolchain.ts), run in a worker thread so that the caller can stay
// synchronous and still see each job finish: the caller blocks in Atomics.wait on `state`, this
// thread starts up to `concurrency` child processes at a time and counts them off as they end.
// A job may capture its standard output (returned in job order) and have a time limit.
// Plain JavaScript on Node's built-ins only, so it needs no TypeScript loader.
//   state[0]: jobs finished     state[1]: 1 when the pool is done (all ended, or stopped on a failure)
import { spawn } from 'node:child_process';
import { workerData } from 'node:worker_threads';

const { jobs, cwd, concurrency, state: buffer, port } = workerData;
const state = new Int32Array(buffer);
let next = 0;
let running = 0;
let failure = null;
let failureIndex = -1;
const outputs = jobs.map(() => '');
const CAPTURE_LIMIT = 1 << 20;

function finish() {
  port.postMessage({ failure, outputs });
  port.close();
  Atomics.store(state, 1, 1);
  Atomics.notify(state, 0);
}

// The failure reported is that of the lowest-numbered failing job, not of the first to fail in
// time: jobs start in order and the ones running when the batch stops still finish, so every job
// below a failing one has ended by then, and the report does not depend on timing.
function ended(job, index, status, stderr, error) {
  running--;
  const failed = error ? { argv: job.argv, code: error.code ?? null, message: error.message, status: null, stderr: '' } : status !== 0 ? { argv: job.argv, code: null, message: '', status, stderr } : null;
  if (failed && (failure === null || index < failureIndex)) {
    failure = failed;
    failureIndex = index;
  }
  Atomics.add(state, 0, 1);
  Atomics.notify(state, 0);
  if (failure === null) fill();
  if (running === 0 && (failure !== null || next === jobs.length)) finish();
}

function start(job, index) {
  running++;
  let stderr = '';
  let done = false;
  const child = spawn(job.argv[0], job.argv.slice(1), { cwd, stdio: ['ignore', job.capture ? 'pipe' : 'ignore', 'pipe'], timeout: job.timeoutMs ?? 0 });
  if (job.capture) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      if (outputs[index].length < CAPTURE_LIMIT) outputs[index] += d;
    });
  }
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    if (stderr.length < 65536) stderr += d;
  });
  child.on('error', (e) => {
    if (!done) ended(job, index, null, stderr, e);
    done = true;
  });
  child.on('close', (status, signal) => {
    if (!done) ended(job, index, status ?? (signal ? 128 : 1), stderr, null);
    done = true;
  });
}

function fill() {
  while (running < concurrency && next < jobs.length) {
    start(jobs[next], next);
    next++;
  }
}

if (jobs.length === 0) finish();
else fill();
