/**
 * The FaaS image set (`unimem image faas`, `buildFaasSet`): N distinct function unikernels on one
 * runtime, as the SoCC'22 FaaS experiment (1000 different unikernels, one ASLR image per instance;
 * research/dedup.md §1.7).
 *
 * Runtime (every image, the same objects): our platform libraries (ukplat, ukboot, ukalloc,
 * uksched, vfscore) over musl (with the libgcc helpers), lwIP and Lua, as the demo set builds them. Function i is
 * its own application library `app-fn<i>`: generated C (its code: a chain of arithmetic steps over
 * its constant table) and a generated Lua handler (its script), which it loads into Lua, calls
 * through an event sent over lwIP's loopback, and folds into its printed result. Sizes are drawn
 * per function (`functionShape`):
 *
 *   code  log-normal, median 8 KiB, sigma 0.7, clamped to 1-64 KiB of C steps   [assumption]
 *   data  log-normal, median 4 KiB, sigma 1.0, clamped to 0.25-64 KiB of table  [assumption]
 *
 * (no published distribution of function code sizes was found; the medians keep a function small
 * beside its runtime, as FaaS handlers are). The steps are not inlined and start from a value the
 * compiler cannot see, so gcc cannot fold a function's computation away: its code and table are in
 * the image at the drawn sizes (BYTES_PER_STATEMENT is measured on the generated code).
 *
 * Each function is compiled once, with function and data sections, and that one object serves
 * every variant; each image is one ld link; all links of a set run as one batch on a pool of the
 * machine's CPUs. Function objects are cached by content (their source, flags, headers and
 * compiler), so a set of 1000 reuses the functions a set of 100 compiled. Same count and seed give
 * byte-identical images whatever the parallelism; sets are cached by content hash like the demo set.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputError } from '../base/errors.ts';
import { silentProgress, type Progress } from '../base/progress.ts';
import { Rng } from '../base/rng.ts';
import { DEMO_ROOT, loadDemoSpec } from './demo-spec.ts';
import { appCompileFlags, cachedManifest, libraryObjects, linkSet, readManifest, type BuildVariant, type DemoManifest } from './demo.ts';
import { realLibraries } from './libs.ts';
import { buildIntoFolder } from './output-folders.ts';
import { buildKey, CFLAGS, contentKey, DCE_CFLAGS, runJobs, type Job } from './toolchain.ts';
import { markUsed, pruneUnused } from '../base/tempcache.ts';

/** The runtime every function links, in link order (the function's library follows). */
export const FAAS_RUNTIME = ['ukplat', 'ukboot', 'ukalloc', 'uksched', 'vfscore', 'lwip', 'lua', 'musl', 'gcc'];
export const FAAS_MAX = 20000;

export interface FaasOptions {
  count: number;
  seed?: number;
  outDir?: string;
  variants?: BuildVariant[];
  /** Progress of the build (compile, link, trampolines, run); silent by default. */
  progress?: Progress;
  /** Folder of the content-addressed function objects; default: under the OS temporary directory. */
  objectCache?: string;
}

export interface FunctionShape {
  /** Bytes of generated C steps (approximate code size). */
  codeBytes: number;
  /** Entries of the constant table (4 bytes each). */
  tableWords: number;
}

/** Standard normal from two uniforms (Box-Muller). */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
}

const logNormal = (rng: Rng, median: number, sigma: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, median * Math.exp(sigma * normal(rng))));

export function functionShape(rng: Rng): FunctionShape {
  const codeBytes = Math.round(logNormal(rng, 8192, 0.7, 1024, 65536));
  const tableWords = Math.round(logNormal(rng, 4096, 1.0, 256, 65536) / 4);
  return { codeBytes, tableWords };
}

const fnName = (i: number): string => `fn${String(i).padStart(5, '0')}`;
const u32 = (rng: Rng): string => `0x${rng.nextU32().toString(16)}u`;
/**
 * About this many bytes of x86-64 per generated statement: the step functions' code of 200 seeded
 * functions at -O1 (test/image/faas.test.ts checks the drawn size against the compiled one).
 */
const BYTES_PER_STATEMENT = 21;
const STATEMENTS_PER_STEP = 48;

/** The step functions: `steps` of STATEMENTS_PER_STEP statements over a table of `n` words. */
function stepFunctions(rng: Rng, steps: number, n: number): string[] {
  const out: string[] = [];
  for (let s = 0; s < steps; s++) {
    // Not inlined: each step stays a function of its own, as the drawn code size counts it.
    out.push(`static __attribute__((noinline)) unsigned long fn_step${s}(unsigned long x)`, '{');
    for (let k = 0; k < STATEMENTS_PER_STEP; k++) {
      switch (rng.nextInt(3)) {
        case 0:
          out.push(`\tx = (x ^ ${u32(rng)}) * ${u32(rng)};`);
          break;
        case 1:
          out.push(`\tx += fn_table[(x >> ${rng.nextRange(1, 40)}) % ${n}u];`);
          break;
        default: {
          const r = rng.nextRange(1, 63);
          out.push(`\tx = (x << ${r}) | (x >> ${64 - r});`);
        }
      }
    }
    out.push('\treturn x;', '}');
  }
  return out;
}

/** The C source of function `i`: distinct code (steps), data (table) and Lua handler. */
export function functionSource(i: number, rng: Rng): string {
  const shape = functionShape(rng);
  const name = fnName(i);
  const words = Array.from({ length: shape.tableWords }, () => u32(rng));
  const statements = Math.max(8, Math.round(shape.codeBytes / BYTES_PER_STATEMENT));
  const steps = Math.ceil(statements / STATEMENTS_PER_STEP);
  const out: string[] = [
    `/* FaaS function ${name} (generated by src/image/faas.ts): ${shape.codeBytes} B of code target, ${shape.tableWords * 4} B of table. */`,
    '#include <stdio.h>',
    '#include "lua.h"',
    '#include "lauxlib.h"',
    '#include "lualib.h"',
    '#include "ukapp.h"',
    '#include "uknet.h"',
    `const char app_name[] = "${name}";`,
    `static const unsigned int fn_table[${words.length}] = {`,
  ];
  for (let k = 0; k < words.length; k += 8) out.push(`\t${words.slice(k, k + 8).join(', ')},`);
  out.push('};');
  out.push(...stepFunctions(rng, steps, words.length));
  const mul = rng.nextRange(3, 997);
  const add = rng.nextRange(1, 99991);
  const mod = [1000003, 999983, 1048573, 65521][rng.nextInt(4)];
  const lua = [
    'function handler(ev)',
    `  local acc = ${add}`,
    `  for i = 1, #ev do acc = (acc * ${mul} + ev:byte(i)) % ${mod} end`,
    `  local t = {} for w in ev:gmatch('%w+') do t[#t + 1] = w:rep(${rng.nextRange(1, 3)}) end`,
    '  return acc + #table.concat(t)',
    'end',
  ].join('\\n');
  out.push(
    `static const char fn_lua[] = "${lua}\\n";`,
    'static lua_State *fn_L;',
    'static unsigned long fn_serve(const char *req, unsigned long len, char *rep, unsigned long cap)',
    '{',
    '\tlong v;',
    '\tlua_getglobal(fn_L, "handler");',
    '\tlua_pushlstring(fn_L, req, len);',
    '\tlua_call(fn_L, 1, 1);',
    '\tv = (long)lua_tointeger(fn_L, -1);',
    '\tlua_pop(fn_L, 1);',
    '\treturn (unsigned long)snprintf(rep, cap, "%ld", v);',
    '}',
    'unsigned long app_main(const char **name)',
    '{',
    '\tunsigned long h = 0;',
    '\tchar ev[64];',
    '\tint n;',
    // An empty asm that may change h: the compiler cannot know the steps' input, so it cannot
    // compute the function at build time and drop its code and table.
    '\t__asm__("" : "+r"(h));',
    '\t*name = app_name;',
    '\tfn_L = luaL_newstate();',
    '\tluaL_openlibs(fn_L);',
    '\tif (luaL_dostring(fn_L, fn_lua))',
    '\t\treturn 1;',
  );
  for (let s = 0; s < steps; s++) out.push(`\th = fn_step${s}(h + ${s}u);`);
  out.push(
    `\tn = snprintf(ev, sizeof(ev), "event %lu for ${name}", h & 0xffff);`,
    '\th ^= app_digest(0, uknet_reply, uknet_roundtrip(7000, fn_serve, ev, (unsigned long)n));',
    '\tlua_close(fn_L);',
    '\treturn h;',
    '}',
    '',
  );
  return out.join('\n');
}

function resolve(o: FaasOptions): { count: number; seed: number; variants: BuildVariant[] } {
  if (!Number.isInteger(o.count) || o.count < 2 || o.count > FAAS_MAX) throw new InputError('faas', `count must be an integer in 2..${FAAS_MAX}, got ${o.count}`);
  const variants = (['default', 'dce'] as BuildVariant[]).filter((v) => (o.variants ?? ['default', 'dce']).includes(v));
  return { count: o.count, seed: o.seed ?? 1, variants };
}

function faasKey(o: FaasOptions): string {
  return buildKey(DEMO_ROOT, { faas: resolve(o), realLibraries: realLibraries().dir });
}

/** Where `buildFaasSet` caches a set with these options when no outDir is given. */
export function defaultFaasDir(o: FaasOptions): string {
  return path.join(os.tmpdir(), `unimem-faas-${faasKey(o)}`);
}

/** Where function objects are cached by content unless a build names another folder. */
export const defaultObjectCache = (): string => path.join(os.tmpdir(), 'unimem-faas-objects');

/**
 * Compile every function once (function and data sections: the one object serves every variant),
 * or take it from the content-addressed object cache. An object's name there is the hash of what
 * it is made from: its source, the compiler command, the headers it may include and the compiler.
 */
function compileFunctions(tmp: string, count: number, seed: number, cache: string, progress: Progress): Map<string, string> {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src, { recursive: true });
  fs.mkdirSync(cache, { recursive: true });
  const rng = new Rng(seed);
  const flags = ['musl-gcc', ...CFLAGS, ...DCE_CFLAGS, ...appCompileFlags()];
  const real = realLibraries();
  const inputs = contentKey([flags.join('\0'), JSON.stringify([...real.libraries.values()]), path.join(DEMO_ROOT, 'include'), ...real.includes]);
  const objects = new Map<string, string>();
  const jobs: Job[] = [];
  const pending: { tmp: string; obj: string }[] = [];
  for (let i = 0; i < count; i++) {
    const name = fnName(i);
    const source = functionSource(i, rng.fork(`faas/${i}`));
    const obj = path.join(cache, `${crypto.createHash('sha256').update(inputs).update(source).digest('hex').slice(0, 32)}.o`);
    objects.set(`app-${name}`, obj);
    if (fs.existsSync(obj)) {
      markUsed(obj);
      continue;
    }
    fs.writeFileSync(path.join(src, `${name}.c`), source);
    // Compiled under a temporary name and moved into the cache only when the batch succeeded.
    const out = path.join(src, `lib${name}.o`);
    pending.push({ tmp: out, obj });
    jobs.push({ output: out, argv: [...flags, `-frandom-seed=${name}`, '-c', `${name}.c`, '-o', out] });
  }
  progress.phase('compile functions', jobs.length);
  runJobs(jobs, src, (done) => progress.update(done));
  for (const p of pending) fs.renameSync(p.tmp, p.obj);
  return objects;
}

/** Build (or reuse) a FaaS set of `count` distinct functions in every variant, one ASLR image each. */
export function buildFaasSet(options: FaasOptions): DemoManifest {
  const opts = resolve(options);
  const key = faasKey(options);
  const dir = path.resolve(options.outDir ?? defaultFaasDir(options));
  const cached = cachedManifest(dir, key);
  if (cached) {
    if (!options.outDir) markUsed(dir);
    return cached;
  }
  if (!options.outDir) pruneUnused(path.dirname(dir), /^unimem-faas-[0-9a-f]{16}$/, dir);
  if (!options.objectCache) pruneUnused(defaultObjectCache(), /^[0-9a-f]{32}\.o$/);
  const spec = loadDemoSpec();
  for (const l of FAAS_RUNTIME) if (!spec.libraries.has(l)) throw new InputError(path.join(DEMO_ROOT, 'demo.json'), `the FaaS runtime library ${l} is missing`);
  const runtime = spec.order.filter((l) => FAAS_RUNTIME.includes(l));
  const progress = options.progress ?? silentProgress;
  // Only an earlier set is replaced: a folder or file of the user's is refused, never deleted.
  buildIntoFolder(dir, Boolean(options.outDir), (tmp) => {
    const functions = compileFunctions(tmp, opts.count, opts.seed, options.objectCache ?? defaultObjectCache(), progress);
    const apps = [...functions.keys()].map((lib) => ({ name: lib.slice(4), linkOrder: [...runtime, lib] }));
    const objectsOf = (v: BuildVariant): Map<string, string> => {
      const all = libraryObjects(spec, v);
      return new Map([...runtime.map((l): [string, string] => [l, all.get(l)!]), ...functions]);
    };
    linkSet(tmp, apps, objectsOf, { variants: opts.variants, aslrInstances: 1, seed: opts.seed, key, progress });
    fs.rmSync(path.join(tmp, 'src'), { recursive: true, force: true });
  });
  return readManifest(dir);
}
