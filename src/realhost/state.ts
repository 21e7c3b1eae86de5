/**
 * What a real-host run changes on the machine, kept in a state file so that the changes are undone
 * at the end (also on failure, Ctrl-C and SIGTERM) and, when a run was killed before it could undo
 * them, by the next run at its start: VMM processes, pool directories on tmpfs, KSM settings.
 *
 * The file is rewritten atomically on every change. A VMM is identified by pid and start time
 * (/proc/PID/stat field 22), so a recycled pid is never killed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../base/errors.ts';
import { writeFileAtomic } from '../base/system.ts';
import { applySettings, type KsmSettings } from './ksm.ts';
import { VMM_COMM } from './vmm.ts';

interface Proc {
  pid: number;
  start: number;
  comm: string;
}

export interface HostState {
  magic: 'unimem-realhost-state';
  /** The run's own process. */
  owner: { pid: number; start: number };
  /** Processes this run started (VMMs, perf), with their command name. */
  procs: Proc[];
  /** Directories this run created (pools on tmpfs, consoles). */
  dirs: string[];
  /** KSM settings before the run, or null when the run did not touch KSM. */
  ksmOriginal: KsmSettings | null;
}

export function stateFile(): string {
  return process.env.UNIMEM_REALHOST_STATE ?? path.join(fs.existsSync('/run') ? '/run' : os.tmpdir(), 'unimem-realhost.json');
}

/** Start time of a process in clock ticks since boot, or -1 when it is gone (or a zombie). */
export function processStart(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? -1 : Number(fields[19]);
  } catch {
    return -1;
  }
}

const alive = (p: { pid: number; start: number }): boolean => p.start >= 0 && processStart(p.pid) === p.start;

function readState(): HostState | null {
  try {
    const s = JSON.parse(fs.readFileSync(stateFile(), 'utf8')) as HostState;
    return s.magic === 'unimem-realhost-state' ? s : null;
  } catch {
    return null;
  }
}

/** Kill a process if it is still the one that was started (same pid, start time and name). */
function killProc(p: Proc): void {
  if (!alive(p)) return;
  let comm = '';
  try {
    comm = fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim();
  } catch {
    return;
  }
  if (comm !== p.comm) return;
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  // Until it is gone (its memory freed), so that what follows (KSM unmerge) sees the machine without it.
  for (let i = 0; i < 300 && alive(p); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
}

/** Undo everything a state records; returns what was cleaned (for the log). */
function undo(s: HostState): string[] {
  const done: string[] = [];
  for (const p of s.procs) {
    if (alive(p)) done.push(`${p.comm} ${p.pid}`);
    killProc(p);
  }
  for (const d of s.dirs) {
    if (fs.existsSync(d)) done.push(d);
    fs.rmSync(d, { recursive: true, force: true });
  }
  if (s.ksmOriginal) {
    applySettings(s.ksmOriginal);
    done.push('KSM settings');
  }
  return done;
}

/**
 * The state of one run. `begin` cleans what a killed run left (or refuses while another run is
 * alive), `end` undoes this run's changes; both remove the file.
 */
export class RunState {
  private state: HostState;
  private ended = false;

  private constructor(state: HostState) {
    this.state = state;
  }

  /** Clean a dead run's leftovers; returns the state of this run and what was cleaned. */
  static begin(): { run: RunState; cleaned: string[] } {
    const old = readState();
    let cleaned: string[] = [];
    if (old) {
      if (old.owner.pid !== process.pid && alive(old.owner)) throw new UserError(`another real-host run (pid ${old.owner.pid}) is in progress; state in ${stateFile()}`);
      cleaned = undo(old);
    }
    const run = new RunState({ magic: 'unimem-realhost-state', owner: { pid: process.pid, start: processStart(process.pid) }, procs: [], dirs: [], ksmOriginal: null });
    run.save();
    return { run, cleaned };
  }

  private save(): void {
    writeFileAtomic(stateFile(), JSON.stringify(this.state) + '\n');
  }

  addProcess(pid: number, comm: string = VMM_COMM): void {
    this.state.procs.push({ pid, start: processStart(pid), comm });
    this.save();
  }

  removeProcess(pid: number): void {
    this.state.procs = this.state.procs.filter((v) => v.pid !== pid);
    this.save();
  }

  addDir(dir: string): void {
    this.state.dirs.push(dir);
    this.save();
  }

  removeDir(dir: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
    this.state.dirs = this.state.dirs.filter((d) => d !== dir);
    this.save();
  }

  /** Remember the KSM settings before the first change (once per run). */
  rememberKsm(original: KsmSettings): void {
    if (this.state.ksmOriginal) return;
    this.state.ksmOriginal = original;
    this.save();
  }

  /** Put the KSM settings back now (the run goes on without KSM). */
  restoreKsm(): void {
    if (!this.state.ksmOriginal) return;
    applySettings(this.state.ksmOriginal);
    this.state.ksmOriginal = null;
    this.save();
  }

  /** Undo everything; safe to call twice. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    undo(this.state);
    fs.rmSync(stateFile(), { force: true });
  }
}
