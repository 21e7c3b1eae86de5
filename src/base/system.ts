/**
 * The host object: everything that touches the process (files, terminal, colour, environment, time)
 * goes through a System that the command line passes in, so commands run in memory in tests.
 * Output files are written atomically (temporary name, then rename), so an interrupted run never
 * leaves a half-written result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileSystemError, makeFolder, removeStaleTemporaries, writeFolder } from './output.ts';

export interface System {
  /** Write to standard output (no newline added). */
  write(text: string): void;
  /** Write to standard error (no newline added). */
  writeError(text: string): void;
  /** True when standard output is an interactive terminal (progress may be drawn). */
  readonly isTerminal: boolean;
  /** True when colour is allowed (terminal and no NO_COLOR). */
  readonly useColour: boolean;
  readFile(file: string): Buffer;
  readText(file: string): string;
  exists(file: string): boolean;
  /** Atomic write: the file either keeps its old content or has all of the new one. */
  writeFileAtomic(file: string, data: string | Uint8Array): void;
  mkdirp(dir: string): void;
  /**
   * Replace folder `dir` (missing, empty or an earlier run's) with exactly `files`; `flag` names the
   * option in errors. See `writeFolder` in output.ts.
   */
  writeFolder(flag: string, dir: string, files: readonly { name: string; content: string | Uint8Array }[]): string[];
  env(name: string): string | undefined;
  /** Wall-clock milliseconds (for progress and benchmarks only, never for simulated results). */
  now(): number;
}

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = makeFolder('output', path.dirname(file));
  // A run killed between write and rename leaves its temporary: the next write of the file removes it.
  removeStaleTemporaries(dir, path.basename(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw fileSystemError(file, 'cannot write', e);
  }
}

export function nodeSystem(): System {
  const isTerminal = Boolean(process.stdout.isTTY);
  return {
    write: (t) => void process.stdout.write(t),
    writeError: (t) => void process.stderr.write(t),
    isTerminal,
    useColour: isTerminal && !process.env.NO_COLOR,
    readFile: (f) => fs.readFileSync(f),
    readText: (f) => fs.readFileSync(f, 'utf8'),
    exists: (f) => fs.existsSync(f),
    writeFileAtomic,
    mkdirp: (d) => void makeFolder('output', d),
    writeFolder,
    env: (n) => process.env[n],
    now: () => performance.now(),
  };
}

/** A System that keeps output in memory: for tests of commands. Files still go to the real disk. */
export interface MemorySystem extends System {
  readonly stdout: string[];
  readonly stderr: string[];
}

export function memorySystem(options: { isTerminal?: boolean } = {}): MemorySystem {
  const base = nodeSystem();
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    ...base,
    isTerminal: options.isTerminal ?? false,
    useColour: false,
    stdout,
    stderr,
    write: (t) => void stdout.push(t),
    writeError: (t) => void stderr.push(t),
  };
}
