/**
 * Output paths, checked before any work starts, and output folders that never mix two runs.
 *
 * - `checkOutputFile` / `checkOutputDir` turn every way an output path can be wrong (a file where a
 *   folder is needed and the reverse, a path under a file, a dangling link, a virtual file system
 *   such as /proc where `mkdir -p` never ends, a folder holding the user's own files) into one
 *   UserError naming the flag and the path, before a run spends minutes.
 * - `writeFolder` writes a run's files into a fresh hidden sibling folder and swaps it in for the
 *   old one, so the folder holds either the old run or the new one, never a mix; temporaries that
 *   a killed run left behind are removed by the next write.
 * - A folder is ours when it holds the `OUTPUT_MARKER` file and only files a run writes: only such
 *   a folder is ever replaced. Nothing else the user owns is deleted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors.ts';

/** Written into every folder `writeFolder` creates: it marks the folder as replaceable output. */
export const OUTPUT_MARKER = '.unimem-output';

/** Names of the files a run writes (CSV, JSON, HTML, SVG); anything else in a folder is the user's. */
const RUN_FILE = /^[\w.+-]+\.(csv|json|html|svg)$/;

/**
 * Virtual file systems: writing there is never what a user meant, and `mkdir -p` loops in /proc.
 * /dev/shm is memory-backed but real (the real host keeps its pools there).
 */
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

/** The virtual root `p` lies under, if any. */
function virtualRoot(p: string): string | undefined {
  if (p === '/dev/shm' || p.startsWith('/dev/shm/')) return undefined;
  return VIRTUAL_ROOTS.find((root) => p === root || p.startsWith(root + '/'));
}

function fail(flag: string, target: string, problem: string): never {
  throw new UserError(`${flag}: ${target}: ${problem}`);
}

/**
 * A failed file-system call on a path the user chose (permission denied, disk full, read-only file
 * system) as a one-line UserError; anything else (a bug in how we call it) keeps its stack.
 */
export function fileSystemError(file: string, action: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const userCaused = ['EACCES', 'EPERM', 'ENOSPC', 'EROFS', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'ENAMETOOLONG', 'ELOOP', 'EMFILE', 'EXDEV', 'ENOTEMPTY', 'EBUSY'];
  return code && userCaused.includes(code) ? new UserError(`${file}: ${action} (${code})`) : (e as Error);
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') return undefined; // a component is a file: found by the walk below
    throw new UserError(`${p}: cannot examine (${code ?? (e as Error).message})`);
  }
}

/**
 * Walk from the root towards `target` and check that every existing component is a folder (links
 * followed; a dangling link is named) and that the path leaves the virtual file systems alone.
 * Returns the absolute path.
 */
function checkAncestors(flag: string, target: string): string {
  const abs = path.resolve(target);
  const root = virtualRoot(abs);
  if (root) fail(flag, target, `is under ${root}, a virtual file system; choose a folder on disk`);
  const parts = abs.split(path.sep).filter(Boolean);
  let at: string = path.sep;
  let existing = at;
  for (const part of parts.slice(0, -1)) {
    at = path.join(at, part);
    const lst = fs.lstatSync(at, { throwIfNoEntry: false });
    if (!lst) break; // the rest will be created
    const st = statOrUndefined(at);
    if (!st) fail(flag, target, `${at} is a link to nothing (dangling symbolic link)`);
    if (!st.isDirectory()) fail(flag, target, `${at} is a file, not a folder`);
    existing = at;
  }
  // Through links: where the path really leads.
  const real = path.join(fs.realpathSync(existing), path.relative(existing, abs));
  const realRoot = virtualRoot(real);
  if (realRoot) fail(flag, target, `lies in ${realRoot}, a virtual file system; choose a folder on disk`);
  return abs;
}

/** Check that `file` can be written as a regular file (an existing regular file is replaced). */
export function checkOutputFile(flag: string, file: string): string {
  const abs = checkAncestors(flag, file);
  const lst = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!lst) return abs;
  const st = statOrUndefined(abs);
  if (!st) fail(flag, file, 'is a link to nothing (dangling symbolic link)');
  if (st.isDirectory()) fail(flag, file, 'is a folder; give a file name');
  if (!st.isFile()) fail(flag, file, 'is not a regular file');
  return abs;
}

/** True when `dir` is a folder that `writeFolder` made and that holds only run files. */
export function isOurFolder(dir: string): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return false;
  }
  return names.includes(OUTPUT_MARKER) && names.every((n) => n === OUTPUT_MARKER || RUN_FILE.test(n));
}

/**
 * Check that `dir` can receive a run's files: it is missing, empty, or one of ours. `owned` may
 * accept other folders a command made itself (a demo set, a pool).
 */
export function checkOutputDir(flag: string, dir: string, owned: (dir: string) => boolean = isOurFolder): string {
  const abs = checkAncestors(flag, dir);
  const lst = fs.lstatSync(abs, { throwIfNoEntry: false });
  if (!lst) return abs;
  const st = statOrUndefined(abs);
  if (!st) fail(flag, dir, 'is a link to nothing (dangling symbolic link)');
  if (!st.isDirectory()) fail(flag, dir, 'is a file; give a folder');
  if (fs.readdirSync(abs).length > 0 && !owned(abs)) {
    fail(flag, dir, 'is a folder that holds other files and was not written by unimem; give a new or empty folder (nothing was changed)');
  }
  return abs;
}

/** `mkdir -p` that stops at a file or a virtual file system instead of failing late or looping. */
export function makeFolder(flag: string, dir: string): string {
  const abs = path.dirname(checkAncestors(flag, path.join(dir, 'x')));
  try {
    fs.mkdirSync(abs, { recursive: true });
  } catch (e) {
    throw fileSystemError(abs, 'cannot create the folder', e);
  }
  return abs;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Hidden sibling names: `.<name>.<pid>.unimem-tmp` (being written) and `.<name>.<pid>.unimem-old`. */
const TEMP_SIBLING = /^\.(.+)\.(\d+)\.unimem-(tmp|old)$/;

/** Remove temporaries of `name` in `parent` that a process no longer alive left behind. */
export function removeStaleTemporaries(parent: string, name: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const m = TEMP_SIBLING.exec(n) ?? /^\.(.+)\.(\d+)\.\d+\.tmp$/.exec(n);
    if (!m || m[1] !== name || processAlive(Number(m[2]))) continue;
    fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  }
}

/**
 * Write `files` as the complete content of folder `dir`: into a fresh hidden sibling first, which
 * then replaces `dir` (which must be missing, empty or ours: see `checkOutputDir`). A run killed
 * at any point leaves the old folder or the new one, plus at most a hidden temporary that the next
 * write removes. Returns the paths of the files in their final place.
 */
export function writeFolder(flag: string, dir: string, files: readonly { name: string; content: string | Uint8Array }[]): string[] {
  const given = checkOutputDir(flag, dir);
  // A link to a folder: replace the folder it names, and keep the link.
  const abs = fs.existsSync(given) ? fs.realpathSync(given) : given;
  const parent = path.dirname(abs);
  const base = path.basename(abs);
  makeFolder(flag, parent);
  removeStaleTemporaries(parent, base);
  const tmp = path.join(parent, `.${base}.${process.pid}.unimem-tmp`);
  const old = path.join(parent, `.${base}.${process.pid}.unimem-old`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(old, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp);
    fs.writeFileSync(path.join(tmp, OUTPUT_MARKER), 'Written by unimem: the next run into this folder replaces it whole.\n');
    for (const f of files) {
      if (!RUN_FILE.test(f.name)) throw new Error(`internal: '${f.name}' is not a run file name`);
      fs.writeFileSync(path.join(tmp, f.name), f.content);
    }
    swapIn(tmp, abs, old);
  } catch (e) {
    throw fileSystemError(abs, 'cannot write the output folder', e);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  fs.rmSync(old, { recursive: true, force: true });
  return files.map((f) => path.join(given, f.name));
}

/** Put folder `fresh` in the place of `target`, moving an existing `target` to `old` (restored on failure). */
function swapIn(fresh: string, target: string, old: string): void {
  const hadTarget = fs.existsSync(target);
  if (hadTarget) fs.renameSync(target, old);
  try {
    fs.renameSync(fresh, target);
  } catch (e) {
    if (hadTarget) fs.renameSync(old, target);
    throw e;
  }
}
