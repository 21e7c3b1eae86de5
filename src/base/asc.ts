/**
 * WebAssembly modules compiled from AssemblyScript sources of the checkout by asc (the dev
 * dependency `assemblyscript`) into build/native/ (git-ignored), under a name that carries the hash
 * of the source and the flags: an edited source is rebuilt, a stale module never used. Built by
 * scripts/install.sh, and by the first use when missing. Used by the trace decoder
 * (src/trace/wasm-decoder.ts) and the translation path (src/hw/wasm-translate.ts).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentHash } from './hash.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ASC = path.join(REPO, 'node_modules/assemblyscript/bin/asc.js');
const BUILD_DIR = path.join(REPO, 'build/native');

/**
 * Path of `<name>-<hash>.wasm` built from the entry file `source` with `flags`, built now if
 * needed; null when asc is not installed. `sources` are the files the module is compiled from (the
 * entry and what it imports), whose names and contents name the build with the flags.
 */
export function ensureAscModule(source: string, flags: readonly string[], name: string, sources: readonly string[] = [source]): string | null {
  const parts = sources.map((f) => Buffer.concat([Buffer.from(`${path.basename(f)}\n`), fs.readFileSync(f)]));
  const hash = contentHash(Buffer.concat([...parts, Buffer.from(flags.join(' '))]));
  const file = path.join(BUILD_DIR, `${name}-${hash}.wasm`);
  if (fs.existsSync(file)) return file;
  if (!fs.existsSync(ASC)) return null;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const p = spawnSync(process.execPath, [ASC, source, ...flags, '-o', tmp], { encoding: 'utf8' });
  if (p.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`asc failed on ${source}:\n${p.stderr || String(p.error)}`);
  }
  fs.renameSync(tmp, file);
  return file;
}
