/**
 * Deterministic C generator for the demo libraries' bulk. Real Unikraft libraries are thousands of
 * functions; ours get their size from generated functions that behave like library code: they read
 * constant tables (.rodata), update state (.data, .bss), call each other inside the library and call
 * the exported API of the libraries they depend on. With `-fno-pie` gcc turns these into the
 * instruction kinds the alignment and ASLR work is about: `call`/`jmp rel32` across libraries,
 * RIP-relative loads and stores, and absolute 32-bit addresses in indexed accesses (`tab(,%rax,8)`).
 *
 * Every function makes at most one call per invocation (the branches of its switch are exclusive)
 * and only calls lower-numbered functions or earlier libraries, so each run is short and terminates.
 * Values never depend on addresses, so every variant of an image prints the same result.
 */
import { Rng } from '../base/rng.ts';
import type { DemoLibrary, DemoSpec } from './demo-spec.ts';

/** Average text bytes of one generated function at -O2 (measured on this generator, gcc 12). */
const BYTES_PER_FUNCTION = 210;
/** Bump when the generated code changes, so build caches are invalidated. */
export const GENERATOR_VERSION = 1;

const hex = (rng: Rng): string => `0x${rng.nextU32().toString(16)}${rng.nextU32().toString(16).padStart(8, '0')}ul`;

export function apiCount(lib: DemoLibrary): number {
  return lib.textBytes === 0 ? 0 : Math.max(2, Math.min(12, Math.round(lib.textBytes / BYTES_PER_FUNCTION / 40)));
}

/** Generated C source for one library (empty string when it has no generated part). */
export function generateLibrarySource(spec: DemoSpec, lib: DemoLibrary): string {
  if (lib.textBytes === 0) return '';
  const rng = new Rng(0x5eed).fork(lib.name);
  const p = lib.cName;
  const n = Math.max(4, Math.round(lib.textBytes / BYTES_PER_FUNCTION));
  const tables = Math.max(1, Math.round(n / 24));
  const stateWords = 32 + (n >> 2);
  const scratchWords = 1 << Math.max(6, Math.ceil(Math.log2(n)));
  const callable = lib.deps.map((d) => spec.libraries.get(d)!).filter((d) => d.textBytes > 0);
  const out: string[] = [];
  out.push(`/* Generated for library ${lib.name}: ${n} functions. Do not edit; see src/image/demo-gen.ts. */`);
  out.push('typedef unsigned long u64;');
  out.push('typedef void (*uk_init_fn)(void);');
  for (const d of callable) for (let k = 0; k < apiCount(d); k++) out.push(`u64 ${d.cName}_api${k}(u64);`);
  for (let i = 0; i < n; i++) out.push(`u64 ${p}_f${i}(u64);`);
  for (let t = 0; t < tables; t++) {
    const vals: string[] = [];
    for (let v = 0; v < 64; v++) vals.push(hex(rng));
    out.push(`const u64 ${p}_tab${t}[64] = {${vals.join(',')}};`);
  }
  const init: string[] = [];
  for (let v = 0; v < stateWords; v++) init.push(String(rng.nextU32()));
  out.push(`u64 ${p}_state[${stateWords}] = {${init.join(',')}};`);
  out.push(`u64 ${p}_scratch[${scratchWords}];`);
  // A writable function-pointer table, as libraries keep operation vectors (lwip netif ops, vfs ops).
  const ops = [0, 1, 2, 3].map(() => `${p}_f${rng.nextInt(n)}`);
  out.push(`u64 (*${p}_ops[4])(u64) = {${ops.join(',')}};`);
  for (let i = 0; i < n; i++) {
    const t1 = rng.nextInt(tables);
    const t2 = rng.nextInt(tables);
    const lines: string[] = [];
    lines.push(`__attribute__((noinline)) u64 ${p}_f${i}(u64 x)\n{`);
    lines.push(`\tu64 y = x ^ ${p}_tab${t1}[(x >> ${rng.nextRange(0, 40)}) & 63];`);
    lines.push(`\ty = y * ${hex(rng)} + ${rng.nextU32()}u;`);
    lines.push(`\t${p}_state[${rng.nextInt(stateWords)}] += y;`);
    lines.push(`\tif ((y & ${rng.nextRange(3, 15)}) == 0)\n\t\t${p}_scratch[(y >> 7) & ${scratchWords - 1}] ^= x;`);
    lines.push(`\tswitch ((y >> ${rng.nextRange(8, 50)}) & 7) {`);
    if (i > 0) {
      const j = i - 1 - rng.nextInt(Math.min(i, 16));
      lines.push(`\tcase 0:\n\t\treturn ${p}_f${j}(y ^ ${rng.nextU32()}u);`);
      const j2 = i - 1 - rng.nextInt(Math.min(i, 48));
      lines.push(`\tcase 2:\n\t\treturn ${p}_f${j2}(y + ${rng.nextU32()}u) ^ x;`);
    }
    if (callable.length > 0 && rng.nextFloat() < 0.6) {
      const d = callable[rng.nextInt(callable.length)];
      lines.push(`\tcase 1:\n\t\treturn ${d.cName}_api${rng.nextInt(apiCount(d))}(y) + ${rng.nextU32()}u;`);
    }
    if (i > 8 && rng.nextFloat() < 0.08) lines.push(`\tcase 4:\n\t\treturn ${p}_ops[y & 3](y >> 3) ^ 1;`);
    lines.push(`\tcase 3:\n\t\ty ^= ${p}_tab${t2}[${rng.nextInt(64)}];\n\t\tbreak;`);
    const r = rng.nextRange(5, 59);
    lines.push(`\tdefault:\n\t\ty = (y << ${r}) | (y >> ${64 - r});\n\t\tbreak;\n\t}`);
    lines.push(`\treturn y ^ (y >> ${rng.nextRange(17, 41)});\n}`);
    out.push(lines.join('\n'));
  }
  const apis = apiCount(lib);
  for (let k = 0; k < apis; k++) {
    const idx = Math.max(0, Math.floor(((k + 1) * n) / apis) - 1 - rng.nextInt(4));
    out.push(`u64 ${p}_api${k}(u64 x)\n{\n\treturn ${p}_f${idx}(x ^ ${hex(rng)}) + ${p}_state[${k}];\n}`);
  }
  out.push(`static void ${p}_gen_init(void)\n{\n\t${p}_state[0] ^= ${hex(rng)};\n}`);
  out.push(`static uk_init_fn ${p}_gen_initp __attribute__((used, section(".uk_inittab"))) = ${p}_gen_init;`);
  return out.join('\n') + '\n';
}

/** The application's `app_main` (and `app_name`): calls its own code and the libraries it uses. */
export function generateAppMain(spec: DemoSpec, appName: string): string {
  const app = spec.apps.find((a) => a.name === appName)!;
  const lib = spec.libraries.get(app.library)!;
  const rng = new Rng(0xa99).fork(app.name);
  const calls: string[] = [];
  const decls: string[] = [];
  if (lib.textBytes > 0) {
    for (let k = 0; k < apiCount(lib); k++) {
      decls.push(`u64 ${lib.cName}_api${k}(u64);`);
      calls.push(`\tacc = acc * 31 + ${lib.cName}_api${k}(acc);`);
    }
  }
  for (const name of app.direct) {
    const d = spec.libraries.get(name)!;
    const m = apiCount(d);
    if (m === 0) continue;
    // Each application uses a different part of each library: this is what DCE removes.
    const used = rng.shuffle([...Array(m).keys()]).slice(0, 1 + rng.nextInt(m));
    used.sort((a, b) => a - b);
    for (const k of used) {
      decls.push(`u64 ${d.cName}_api${k}(u64);`);
      calls.push(`\tacc = acc * 31 + ${d.cName}_api${k}(acc ^ ${rng.nextU32()}u);`);
    }
  }
  if (app.hasHandwritten) {
    decls.push('u64 app_extra(u64);');
    calls.push('\tacc ^= app_extra(acc);');
  }
  return [
    `/* Generated entry of application ${app.name}. Do not edit; see src/image/demo-gen.ts. */`,
    'typedef unsigned long u64;',
    ...decls,
    `const char app_name[] = "${app.name}";`,
    `u64 app_main(void)\n{\n\tu64 acc = ${hex(rng)};\n${calls.join('\n')}\n\treturn acc;\n}`,
    '',
  ].join('\n');
}
