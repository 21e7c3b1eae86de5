/**
 * Running the real toolchain (gcc, ld, objcopy) and the content-hash build cache.
 *
 * Builds are deterministic: fixed file order, `-frandom-seed`, `--build-id=none`, no timestamps.
 * Many independent compiles run through one generated Makefile with `make -j<cores>`, which keeps
 * the caller synchronous (experiments are synchronous) while using every core.
 */
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../base/errors.ts';

/**
 * Compiler flags shared by every library. `-fno-pie` gives the non-PIC code Unikraft builds
 * (absolute 32-bit addresses in indexed accesses); `-fno-jump-tables` keeps switch tables of code
 * addresses out of .rodata, so a library's read-only data holds no addresses and stays identical
 * wherever the library is placed; no unwind tables, as Unikraft's default config.
 * -O1 plus sibling calls (tail `jmp`) rather than -O2: the same instruction kinds at a third of
 * the compile time, so the whole demo set builds in seconds.
 */
export const CFLAGS = [
  '-O1',
  '-foptimize-sibling-calls',
  '-fno-pie',
  '-fno-pic',
  '-mcmodel=small',
  '-ffreestanding',
  '-fno-builtin',
  '-fno-stack-protector',
  '-fno-asynchronous-unwind-tables',
  '-fno-unwind-tables',
  '-fno-jump-tables',
  '-fcf-protection=none',
  '-fno-common',
  '-fno-ident',
  '-Wall',
  '-Wno-unused-function',
];
/** Unikraft's CONFIG_OPTIMIZE_DEADELIM adds these at compile time and --gc-sections at link time. */
export const DCE_CFLAGS = ['-ffunction-sections', '-fdata-sections'];
export const LDFLAGS = ['-static', '-nostdlib', '--build-id=none', '-z', 'max-page-size=0x1000', '-z', 'noexecstack', '--no-warn-rwx-segments'];

function toolMissing(tool: string, e: unknown): never {
  throw new UserError(`${tool} is needed to build images but could not be run (${(e as Error).message.split('\n')[0]})`);
}

/** Run a tool synchronously; a failure is a bug in the generated inputs, so it keeps its output. */
export function runTool(tool: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(tool, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; status?: number };
    if (err.code === 'ENOENT') toolMissing(tool, e);
    throw new Error(`${tool} ${args.join(' ')} failed (status ${err.status}):\n${err.stderr ?? ''}`);
  }
}

/** Quote a word for sh (left bare when it needs no quoting). */
export const shQuote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Run independent commands in parallel (make -j), each producing `output`. */
export function runJobs(jobs: { output: string; argv: string[] }[], dir: string): void {
  if (jobs.length === 0) return;
  const mk = path.join(dir, 'jobs.mk');
  const lines = [`all: ${jobs.map((_, i) => `j${i}`).join(' ')}`, '.PHONY: all ' + jobs.map((_, i) => `j${i}`).join(' ')];
  jobs.forEach((j, i) => lines.push(`j${i}:`, `\t@${j.argv.map(shQuote).join(' ').replace(/\$/g, '$$$$')}`));
  fs.writeFileSync(mk, lines.join('\n') + '\n');
  const cores = Math.max(1, os.availableParallelism());
  runTool('make', ['-s', `-j${cores}`, '-f', mk, 'all'], dir);
  fs.rmSync(mk);
}

const here = path.dirname(fileURLToPath(import.meta.url));

function hashTree(h: crypto.Hash, dir: string, rel = ''): void {
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const r = path.join(rel, name);
    const full = path.join(dir, r);
    if (fs.statSync(full).isDirectory()) hashTree(h, dir, r);
    else h.update(`${r}\0`).update(fs.readFileSync(full)).update('\0');
  }
}

let toolVersions: string | undefined;
/**
 * Content hash of everything a demo build depends on: the demo sources and specification, the
 * toolchain modules that generate code and scripts, the tool versions and the options. A cached
 * build is reused only under the same hash, so it is never stale.
 */
export function buildKey(demoRoot: string, options: unknown): string {
  const h = crypto.createHash('sha256');
  hashTree(h, demoRoot);
  for (const f of fs.readdirSync(here).sort()) if (f.endsWith('.ts')) h.update(f).update(fs.readFileSync(path.join(here, f)));
  toolVersions ??= ['gcc', 'ld'].map((t) => runTool(t, ['--version']).split('\n')[0]).join('|');
  h.update(toolVersions).update(JSON.stringify(options));
  return h.digest('hex').slice(0, 16);
}

export function sha256(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}
