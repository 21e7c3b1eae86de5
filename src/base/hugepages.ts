/**
 * Transparent huge pages for the model's WebAssembly memory (native/hugepages/hugepages.c, a
 * Node-API addon: Node has no binding for madvise). The access path's state (radix tables, the
 * caches' words) is megabytes read at random, and on 4 KiB pages such a read can also miss the
 * simulating host's TLB; advised, the cache model ran about 3 % faster, with fewer slow processes
 * (docs/machine.md, "Huge pages for the arena"). Advice changes how the host maps the memory, never
 * what it holds: results are the same with it and without.
 *
 * The addon is built by scripts/install.sh (`node --import tsx src/base/hugepages.ts`) into
 * build/native/ of the checkout (git-ignored), under a name that carries the hash of its source, so
 * an edited addon is rebuilt and a stale one never loaded. Without it (no gcc or no Node headers),
 * or with UNIMEM_HUGEPAGES=0 in the environment, memory is not advised.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GccFailure, gccInto } from './gcc.ts';
import { contentHash } from './hash.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = path.join(REPO, 'native/hugepages/hugepages.c');
const BUILD_DIR = path.join(REPO, 'build/native');

/**
 * What became of the advice for a memory: `advised` (madvise accepted it), `off` (UNIMEM_HUGEPAGES=0),
 * `unavailable` (no addon built, or the kernel refused: no THP).
 */
export type HugePageAdvice = 'advised' | 'off' | 'unavailable';

interface Addon {
  adviseHugePages(buffer: ArrayBuffer): number;
}

/** The built addon's path for the current source. */
function addonPath(): string {
  return path.join(BUILD_DIR, `hugepages-${contentHash(fs.readFileSync(SOURCE))}.node`);
}

let loaded: Addon | undefined;

/** The addon, once built (looked for again while it is not: arenas are made once per thread). */
function addon(): Addon | undefined {
  if (loaded === undefined) {
    const file = addonPath();
    if (fs.existsSync(file)) loaded = createRequire(import.meta.url)(file) as Addon;
  }
  return loaded;
}

/** The host's transparent-huge-page mode (`always`, `madvise`, `never`), or `absent` without THP. */
export function thpMode(): string {
  try {
    return /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1] ?? 'absent';
  } catch {
    return 'absent';
  }
}

/** Ask Linux for 2 MiB pages under `buffer` (see the header). */
export function adviseHugePages(buffer: ArrayBuffer): HugePageAdvice {
  if (process.env.UNIMEM_HUGEPAGES === '0') return 'off';
  const a = addon();
  return a !== undefined && a.adviseHugePages(buffer) === 0 ? 'advised' : 'unavailable';
}

/** Where Node's headers are (node_api.h): beside the running node, else the distribution's. */
function nodeHeaders(): string | undefined {
  const candidates = [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
}

/** Build the addon for the current source unless it is built; the reason when it cannot be. */
export function buildHugePageAddon(): string | undefined {
  const lib = addonPath();
  if (fs.existsSync(lib)) return undefined;
  const headers = nodeHeaders();
  if (headers === undefined) return "Node's headers (node_api.h) are missing";
  try {
    gccInto(lib, ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-I', headers, SOURCE]);
    return undefined;
  } catch (e) {
    if (!(e instanceof GccFailure)) throw e;
    return e.missing ? 'gcc is not installed' : `gcc failed: ${e.detail.trim()}`;
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problem = buildHugePageAddon();
  if (problem !== undefined) {
    process.stderr.write(`hugepages: ${problem}; the model's memory will not be advised (same results, slower)\n`);
  }
}
