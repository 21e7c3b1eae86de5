/**
 * The access path in WebAssembly (wasm/translate.ts, AssemblyScript): `TranslationCache`'s lookup
 * and insert and `VCpu`'s slow translation with its walk, and (wasm/datacache.ts, re-exported by
 * translate.ts) `DataCache`'s access and write-back with the cache part of `VCpu.throughCaches`,
 * and (wasm/memory.ts) the walk's references to memory with the tier state they change, over the
 * state the TypeScript classes keep in the arena (arena.ts), which is the memory the module
 * imports. The results are the TypeScript path's to the bit (tests run random operations
 * through both and compare every byte); the gain is that a translation which misses the fast path,
 * or a line through the caches, costs one call instead of a chain of lookups, inserts and table
 * reads in the JIT's code.
 *
 * Built with AssemblyScript's asc (a dev dependency) into build/native/ of the checkout
 * (git-ignored) under a name that carries the hash of every source in src/hw/wasm/ and of the
 * flags (src/base/asc.ts, as for the trace decoder); scripts/install.sh builds it
 * (`node --import tsx src/hw/wasm-translate.ts`), and the first use builds it if it is missing.
 * `translator()` is null without asc (an install without dev dependencies) or when
 * UNIMEM_WASM_TRANSLATE=0, and the callers then keep to the TypeScript path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureAscModule } from '../base/asc.ts';
import { wasmApi } from '../base/wasm-api.ts';
import { arena } from './arena.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The module's sources: translate.ts is the entry, which re-exports the others (wasm/datacache.ts). */
const SOURCE_DIR = path.join(REPO, 'src/hw/wasm');
export const TRANSLATE_SOURCE = path.join(SOURCE_DIR, 'translate.ts');
const ASC_FLAGS = ['-O3', '--runtime', 'stub', '--noAssert', '--importMemory', '--enable', 'simd'];

/**
 * The module's exports; pointers are byte offsets into the arena (`TranslationCache.base`,
 * `PageTable.base`, a vCPU's descriptor). wasm/translate.ts documents the descriptor, the output
 * block and the walk references.
 */
export interface Translator {
  /** `TranslationCache.lookup` of the cache at `cache`. */
  cacheLookup(cache: number, pageNumber: number, size: number): number;
  /** `TranslationCache.insert` of the cache at `cache`. */
  cacheInsert(cache: number, pageNumber: number, size: number, value: number, flags: number): number;
  /** `VCpu.translateSlow` and the first attempt of its walk with its references, minus the counters VCpu keeps: returns the status. */
  translate(desc: number, gva: number, write: number, guestPt: number, ept: number): number;
  /**
   * `translate`, then, when it translated and the line of `gva` is not `repeatLine` (or a walk
   * reference made it new), the data line at the translated address as `dataLine` makes it:
   * returns the status, plus 16 * (the data line's level + 1) when it made one (wasm/translate.ts).
   * With `count` 1, a walk and the line it made are counted in the block too, and the result carries
   * the bits VCpu needs for the rest (wasm/translate.ts `countTranslatedLine`).
   */
  translateLine(desc: number, gva: number, write: number, guestPt: number, ept: number, repeatLine: number, count: number): number;
  /** The walk alone (a retry after a fault): returns the status. */
  walk(desc: number, gva: number, write: number, guestPt: number, ept: number): number;
  /** `DataCache.access` of the cache at `cache`: 1 hit, 0 miss, -1 a line beyond the modelled memory (where `access` throws). */
  dataAccess(cache: number, line: number, write: number): number;
  /** `DataCache.absorbWriteBack` of the cache at `cache`: 1 when the line was present. */
  dataAbsorbWriteBack(cache: number, line: number): number;
  /** `TierMap.tierOfFrame` of the tier map the descriptor's memory part names (wasm/memory.ts, for tests). */
  tierOfFrame(desc: number, frame: number): number;
  /**
   * `VCpu.dataLine` past its repeat test: the line through the caches, the write-backs, and for a
   * line from memory the tier, the stream prefetcher and its cost: returns the level as
   * `throughCaches` does, the rest from `desc + 1536` (wasm/memory.ts).
   */
  dataLine(desc: number, line: number, write: number): number;
  /** `Core.prefetchCovers` of the core whose prefetcher region is at `prefetcher` (wasm/prefetch.ts): 1 when covered. */
  prefetchCovers(prefetcher: number, line: number): number;
  /**
   * Replay the kernel block's events [first, end) until one it does not serve (wasm/replay.ts):
   * returns that event's index (`end` when it served them all).
   */
  replayEvents(desc: number, block: number, first: number, end: number): number;
  /**
   * Loads (or stores, `write` 1) of `size` bytes at the block's addresses [first, end) until one
   * it does not serve (wasm/replay.ts): returns that access's index (`end` when it served them all).
   */
  accessEvents(desc: number, block: number, first: number, end: number, size: number, write: number, guestPt: number, ept: number): number;
  /** After `accessEvents` trapped: the vCPU's state it held, into the block. */
  accessEventsTrapped(): void;
}

/** Path of the built module, built now if needed; null when asc is not installed. */
export function ensureWasmTranslator(): string | null {
  // Every source of the directory, in name order, names the build.
  const sources = fs.readdirSync(SOURCE_DIR).filter((n) => n.endsWith('.ts')).sort().map((n) => path.join(SOURCE_DIR, n));
  return ensureAscModule(TRANSLATE_SOURCE, ASC_FLAGS, 'translate', sources);
}

/** This thread's instance over its arena (built and compiled on first use), or null without asc. */
let instance: Translator | null | undefined;

/**
 * The translation path in WebAssembly, or null (no asc, or UNIMEM_WASM_TRANSLATE=0): see the
 * header. The variable is read on every call, so a test can build machines of both kinds in one
 * process.
 */
export function translator(): Translator | null {
  if (process.env.UNIMEM_WASM_TRANSLATE === '0') return null;
  if (instance === undefined) {
    const file = ensureWasmTranslator();
    instance = file === null ? null : instantiate(file);
  }
  return instance;
}

function instantiate(file: string): Translator {
  const module = new wasmApi.Module(fs.readFileSync(file));
  const imports = { env: { memory: arena.memory, abort: () => { throw new Error(`${TRANSLATE_SOURCE}: aborted`); } } };
  const x = new wasmApi.Instance(module, imports).exports as Translator;
  return {
    cacheLookup: x.cacheLookup,
    cacheInsert: x.cacheInsert,
    translate: x.translate,
    translateLine: x.translateLine,
    walk: x.walk,
    dataAccess: x.dataAccess,
    dataAbsorbWriteBack: x.dataAbsorbWriteBack,
    tierOfFrame: x.tierOfFrame,
    dataLine: x.dataLine,
    prefetchCovers: x.prefetchCovers,
    replayEvents: x.replayEvents,
    accessEvents: x.accessEvents,
    accessEventsTrapped: x.accessEventsTrapped,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${ensureWasmTranslator() ?? 'no asc: the translation path runs in JavaScript'}\n`);
}
