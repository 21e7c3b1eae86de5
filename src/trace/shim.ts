/**
 * The allocation shim (native/shim/unimem_shim.c) as a built library: compiled with gcc against
 * valgrind/valgrind.h (Debian package `valgrind`) into build/native/ of the checkout (git-ignored),
 * under a name that carries the hash of its source, so an edited shim is rebuilt and a stale one
 * is never used. scripts/install.sh builds it (`node --import tsx src/trace/shim.ts`); a capture
 * builds it itself if it is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from '../base/errors.ts';
import { GccFailure, gccInto } from '../base/gcc.ts';
import { contentHash } from '../base/hash.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHIM_SOURCE = path.join(REPO, 'native/shim/unimem_shim.c');
const BUILD_DIR = path.join(REPO, 'build/native');
const VALGRIND_HEADER = '/usr/include/valgrind/valgrind.h';

/** Hash of the shim's source: names the built library and keys cached captures. */
export function shimSourceHash(): string {
  return contentHash(fs.readFileSync(SHIM_SOURCE));
}

/** Path of the shim library, built now if needed. Throws UserError if gcc or the header is missing. */
export function ensureShim(): string {
  const hash = shimSourceHash();
  const lib = path.join(BUILD_DIR, `unimem_shim-${hash}.so`);
  if (fs.existsSync(lib)) return lib;
  if (!fs.existsSync(VALGRIND_HEADER)) throw new UserError(`${VALGRIND_HEADER} is missing: install Debian's valgrind package (scripts/install.sh does)`);
  try {
    gccInto(lib, ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', SHIM_SOURCE, '-ldl']);
  } catch (e) {
    if (!(e instanceof GccFailure)) throw e;
    if (e.missing) throw new UserError('gcc is not installed: it builds the allocation shim (scripts/install.sh installs it)');
    throw new Error(`building ${SHIM_SOURCE} failed:\n${e.detail}`);
  }
  return lib;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${ensureShim()}\n`);
}
