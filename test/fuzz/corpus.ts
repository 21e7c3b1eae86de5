/**
 * The fuzz corpus: every input that ever failed a target, kept in `test/fuzz/corpus/<target>/` as
 * `<sha256 prefix>.<ext>`, replayed by the test suite forever after. `npm run fuzz` adds to it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FuzzTarget } from './targets.ts';

/** UNIMEM_FUZZ_CORPUS moves it (the test of the campaign writes its failures elsewhere). */
export const CORPUS_DIR = process.env.UNIMEM_FUZZ_CORPUS ?? path.join(path.dirname(new URL(import.meta.url).pathname), 'corpus');

export function corpusEntries(target: FuzzTarget): { file: string; bytes: Uint8Array }[] {
  const dir = path.join(CORPUS_DIR, target.name);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(`.${target.ext}`))
    .sort()
    .map((f) => ({ file: path.join(dir, f), bytes: new Uint8Array(fs.readFileSync(path.join(dir, f))) }));
}

/** Save a failing input (once per content); returns its path. */
export function saveToCorpus(target: FuzzTarget, bytes: Uint8Array): string {
  const dir = path.join(CORPUS_DIR, target.name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${target.ext}`);
  if (!fs.existsSync(file)) fs.writeFileSync(file, bytes);
  return file;
}
