/**
 * Which existing folders the image commands may write into or replace. A folder a user gives as
 * `--out` or `--pool` is touched only when it is missing, empty, or one that the same command made
 * (a demo set with its manifest, a pool with its marker, an aligned set with the output marker):
 * anything else may hold the user's files and is refused before any work starts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../base/errors.ts';
import { checkOutputDir, OUTPUT_MARKER } from '../base/output.ts';

/** What a demo set holds at its top level (demo.ts writes these and nothing else). */
const DEMO_ENTRIES = new Set(['manifest.json', 'compact', 'dce', 'aligned', 'aligned-aslr']);

function entries(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function hasMagic(file: string, magic: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { magic?: unknown }).magic === magic;
  } catch {
    return false;
  }
}

/** A demo set: its manifest and only the variant folders next to it. */
export function isDemoSetFolder(dir: string): boolean {
  const names = entries(dir);
  return hasMagic(path.join(dir, 'manifest.json'), 'unimem-demo-manifest') && names.every((n) => DEMO_ENTRIES.has(n));
}

/** A pool: its marker file (pool.ts refuses a marker of anything else). */
export function isPoolFolder(dir: string): boolean {
  return hasMagic(path.join(dir, 'pool.json'), 'unimem-pool');
}

/** An aligned set written by `image align` (which leaves the output marker in it). */
export function isAlignedSetFolder(dir: string): boolean {
  return entries(dir).includes(OUTPUT_MARKER);
}

/**
 * Remove an earlier demo set before a new one takes its place; anything that is not one is
 * refused, never deleted.
 */
export function removeDemoSet(dir: string): void {
  if (!fs.existsSync(dir)) return;
  checkOutputDir('--out', dir, isDemoSetFolder);
  if (!fs.statSync(dir).isDirectory()) throw new UserError(`--out: ${dir}: is a file; give a folder`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Move a finished build into place; if another process won the race, keep theirs. */
export function publish(tmp: string, dir: string): void {
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Build a set into `dir` through a temporary folder beside it, so that `dir` holds either a whole
 * set or nothing: `build(tmp)` fills the temporary folder, which is removed if it throws. With
 * `replace` (a folder the user named), a folder that is not an earlier set is refused before any
 * work starts and never deleted; an earlier set is replaced. Without it (a cache folder), a set
 * another process put there first is kept.
 */
export function buildIntoFolder(dir: string, replace: boolean, build: (tmp: string) => void): void {
  if (replace) checkOutputDir('--out', dir, isDemoSetFolder);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    build(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (replace) removeDemoSet(dir);
  publish(tmp, dir);
}
