/**
 * `npm run fuzz [-- --cases N] [--seed S] [--timeout MS]`: the long fuzz campaign. Cases go round
 * the targets in child processes; each input is bounded to --timeout ms of CPU time (default 5000):
 * an input that takes longer counts as slow, and a child silent for six times as long in wall time
 * (the machine may be shared) is killed and its input counts as a hang. Every failing input (an
 * exception other than a one-line UserError, a slow input, a hang, a crash of the process) is
 * written to test/fuzz/corpus/, which the test suite replays. Prints counts, the slowest input and
 * the peak memory of a child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { FUZZ_TARGETS, type FuzzTarget } from './targets.ts';
import { saveToCorpus } from './corpus.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const CASES = flag('cases', 100_000);
const SEED = flag('seed', Date.now() % 2 ** 31);
const TIMEOUT_MS = flag('timeout', 5000);
/** Cases per child process: a fresh process now and then keeps one leak from hiding another. */
const CHUNK = 1000;

interface Totals {
  cases: number;
  failures: number;
  hangs: number;
  crashes: number;
  slowestMs: number;
  slow: number;
  peakRssMiB: number;
}

const children = new Set<ChildProcess>();
const stop = (): void => {
  for (const c of children) c.kill('SIGKILL');
  process.exit(130);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/** Run `cases` inputs of `target` from `seed` in one child; resolves with what happened. */
function runChunk(target: FuzzTarget, seed: number, cases: number, totals: Totals): Promise<number> {
  return new Promise((resolve) => {
    const child = fork(new URL('./campaign-child.ts', import.meta.url).pathname, [target.name, String(seed), String(cases)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.add(child);
    let current: string | null = null;
    let done = 0;
    let finished = false;
    const silence = TIMEOUT_MS * 6;
    let timer = setTimeout(() => onHang(), Math.max(silence, 120_000)); // start-up (tsx, imports) gets longer
    const onHang = (): void => {
      if (current !== null) {
        totals.hangs++;
        console.log(`${target.name}: hang (silent > ${silence} ms): ${saveToCorpus(target, Buffer.from(current, 'base64'))}`);
      }
      child.kill('SIGKILL');
    };
    child.on('message', (m: { kind: string; input?: string; message?: string; ms?: number; peakRss?: number }) => {
      clearTimeout(timer);
      timer = setTimeout(onHang, silence);
      if (m.kind === 'case') current = m.input!;
      else if (m.kind === 'failure') {
        totals.failures++;
        console.log(`${target.name}: ${m.message}\n  saved ${saveToCorpus(target, Buffer.from(current!, 'base64'))}`);
      } else if (m.kind === 'done') {
        done++;
        totals.cases++;
        totals.slowestMs = Math.max(totals.slowestMs, m.ms!);
        if (m.ms! > TIMEOUT_MS) {
          totals.slow++;
          console.log(`${target.name}: slow input (${Math.round(m.ms!)} ms CPU): ${saveToCorpus(target, Buffer.from(current!, 'base64'))}`);
        }
        current = null;
      } else if (m.kind === 'end') {
        finished = true;
        totals.peakRssMiB = Math.max(totals.peakRssMiB, m.peakRss! / 2 ** 20);
      }
    });
    // 'close', not 'exit': messages still in the channel arrive before it.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (!finished && current !== null && signal !== 'SIGKILL') {
        totals.crashes++;
        console.log(`${target.name}: process died (${signal ?? code}): ${saveToCorpus(target, Buffer.from(current, 'base64'))}`);
      }
      // Resume after the case that hung or crashed.
      resolve(finished ? cases : done + 1);
    });
  });
}

const totals: Totals = { cases: 0, failures: 0, hangs: 0, crashes: 0, slowestMs: 0, slow: 0, peakRssMiB: 0 };
const perTarget = Math.ceil(CASES / FUZZ_TARGETS.length);
const t0 = Date.now();
console.log(`fuzz campaign: ${CASES} cases over ${FUZZ_TARGETS.map((t) => t.name).join(', ')}, seed ${SEED}, ${TIMEOUT_MS} ms per input`);
// Round the targets chunk by chunk, so a campaign cut short has covered every target alike.
const left = FUZZ_TARGETS.map(() => perTarget);
for (let chunk = 0; left.some((n) => n > 0); chunk++) {
  for (const [k, target] of FUZZ_TARGETS.entries()) {
    if (left[k] <= 0) continue;
    left[k] -= await runChunk(target, SEED + 1000 * k + chunk, Math.min(CHUNK, left[k]), totals);
  }
  console.log(
    `${totals.cases} cases, ${totals.failures + totals.slow + totals.hangs + totals.crashes} failing, slowest input ${Math.round(totals.slowestMs)} ms CPU, ` +
      `peak child RSS ${Math.round(totals.peakRssMiB)} MiB, ${Math.round((Date.now() - t0) / 1000)} s`,
  );
}
console.log(
  `cases ${totals.cases}, failures ${totals.failures}, slow inputs ${totals.slow}, hangs ${totals.hangs}, crashed processes ${totals.crashes}, ` +
    `slowest input ${Math.round(totals.slowestMs)} ms CPU, peak child RSS ${Math.round(totals.peakRssMiB)} MiB, ${Math.round((Date.now() - t0) / 1000)} s`,
);
process.exitCode = totals.failures + totals.slow + totals.hangs + totals.crashes > 0 ? 1 : 0;
