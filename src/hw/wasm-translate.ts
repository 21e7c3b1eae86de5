/**
 * The translation path in WebAssembly (wasm/translate.ts, AssemblyScript): `TranslationCache`'s
 * lookup and insert and `VCpu`'s slow translation with its walk, over the state the TypeScript
 * classes keep in the arena (arena.ts), which is the memory the module imports. The results are
 * the TypeScript path's to the bit (a test runs random operations through both and compares every
 * byte); the gain is that a translation which misses the fast path costs one call instead of a
 * chain of lookups, inserts and table reads in the JIT's code.
 *
 * Built with AssemblyScript's asc (a dev dependency) into build/native/ of the checkout
 * (git-ignored) under a name that carries the hash of the source and the flags (src/base/asc.ts,
 * as the trace decoder is); scripts/install.sh builds it
 * (`node --import tsx src/hw/wasm-translate.ts`), and the first use builds it if it is missing.
 * `translator()` is null without asc (an install without dev dependencies) or when
 * UNIMEM_WASM_TRANSLATE=0, and the callers then keep to the TypeScript path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureAscModule } from '../base/asc.ts';
import { arena } from './arena.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TRANSLATE_SOURCE = path.join(REPO, 'src/hw/wasm/translate.ts');
const ASC_FLAGS = ['-O3', '--runtime', 'stub', '--noAssert', '--importMemory'];

/** The part of the WebAssembly JavaScript API used here (the project's lib settings carry no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

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
  /** `VCpu.translateSlow` and the first attempt of its walk, minus the walk's references and the counters: returns the status. */
  translate(desc: number, gva: number, write: number, guestPt: number, ept: number): number;
  /** The walk alone (a retry after a fault): returns the status. */
  walk(desc: number, gva: number, write: number, guestPt: number, ept: number): number;
}

/** Path of the built module, built now if needed; null when asc is not installed. */
export function ensureWasmTranslator(): string | null {
  return ensureAscModule(TRANSLATE_SOURCE, ASC_FLAGS, 'translate');
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
  return { cacheLookup: x.cacheLookup, cacheInsert: x.cacheInsert, translate: x.translate, walk: x.walk };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${ensureWasmTranslator() ?? 'no asc: the translation path runs in JavaScript'}\n`);
}
