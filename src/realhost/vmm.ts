/**
 * The micro-VMM (native/vmm, built by scripts/install.sh into build/native/unimem-vmm): where it
 * is, how to call it, what its exit status means. One VMM process per VM.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../base/errors.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Guest memory sits at this host address in every VMM (native/vmm/vmm.c GUEST_HVA). */
export const GUEST_HVA = 0x100000000000;
/** The largest guest memory the VMM takes (--mem-mib at most 1024). */
export const GUEST_MAX_BYTES = 1024 * 1048576;
/** Exit status of a VMM error and of a guest crash (native/vmm/vmm.c). */
export const EXIT_VMM_ERROR = 125;
export const EXIT_GUEST_CRASH = 126;
/** Thread names, as the flush attribution sees them. */
export const VMM_COMM = 'unimem-vmm';
export const VCPU_COMM = 'unimem-vcpu0';

export function vmmBinary(): string {
  return process.env.UNIMEM_VMM ?? path.join(REPO, 'build', 'native', 'unimem-vmm');
}

/** The binary, or a one-line reason why there is none (or why the one there is out of date). */
export function vmmAvailable(): { ok: true; path: string } | { ok: false; reason: string } {
  const bin = vmmBinary();
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    return { ok: false, reason: `${bin} is missing: run scripts/install.sh (it builds native/vmm with gcc)` };
  }
  const newer = process.env.UNIMEM_VMM === undefined ? sourceNewerThan(bin, path.join(REPO, 'native', 'vmm')) : undefined;
  if (newer) return { ok: false, reason: `${bin} is older than ${path.relative(REPO, newer)}: run scripts/install.sh to rebuild it` };
  return { ok: true, path: bin };
}

/**
 * A source in `dir` (C files, headers, build.sh) changed after `bin` was built, the test
 * native/vmm/build.sh makes; undefined when none did or there are no sources. An old binary may
 * lack options this code passes and fail or wait in odd ways, so it counts as unavailable.
 */
export function sourceNewerThan(bin: string, dir: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const built = fs.statSync(bin).mtimeMs;
  const sources = fs.readdirSync(dir).filter((f) => /\.[ch]$/.test(f) || f === 'build.sh').sort();
  const newer = sources.find((f) => fs.statSync(path.join(dir, f)).mtimeMs > built);
  return newer === undefined ? undefined : path.join(dir, newer);
}

/** What to boot: an ELF (standard loader) or a description file of a pool (pool loader). */
export type BootImage = { elf: string } | { description: string; pool?: string };

export interface VmmOptions {
  image: BootImage;
  memMiB: number;
  /** MADV_MERGEABLE on guest memory (KSM configurations). */
  mergeable?: boolean;
  /** Keep the VM resident after the guest exits, until SIGTERM. */
  hold?: boolean;
  cmdline?: string;
  /** FaaS invocations: the schedule file (src/realhost/schedule.ts) and the CLOCK_MONOTONIC time
   * its arrival times count from (process.hrtime.bigint(); default: the VMM's start). */
  invocations?: string;
  epochNs?: bigint;
  /** The host's supported CPUID table saved once by `saveCpuid` (saves each VMM the ioctl). */
  cpuid?: string;
  /** Write guest page maps to PREFIX.load, PREFIX.boot and PREFIX.end (src/realhost/snapshot.ts). */
  snapshot?: string;
}

export function vmmArgs(o: VmmOptions): string[] {
  const args = 'elf' in o.image ? ['--elf', o.image.elf] : ['--description', o.image.description, ...(o.image.pool ? ['--pool', o.image.pool] : [])];
  args.push('--mem-mib', String(o.memMiB), '--timing');
  if (o.mergeable) args.push('--mergeable');
  if (o.hold) args.push('--hold');
  if (o.cmdline) args.push('--cmdline', o.cmdline);
  if (o.invocations) args.push('--invocations', o.invocations);
  if (o.epochNs !== undefined) args.push('--epoch-ns', String(o.epochNs));
  if (o.cpuid) args.push('--cpuid', o.cpuid);
  if (o.snapshot) args.push('--snapshot', o.snapshot);
  return args;
}

/**
 * Save KVM_GET_SUPPORTED_CPUID's answer to `file` (the VMM's --save-cpuid): the same for every VM
 * of this machine, and about half of a VMM's CPU time to guest entry when each asks itself.
 */
export function saveCpuid(file: string): void {
  const r = spawnSync(vmmBinary(), ['--save-cpuid', file], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new UserError(`${vmmBinary()} --save-cpuid: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

export interface BootResult extends VmmTiming {
  status: number;
  /** The guest's serial console. */
  console: string;
  /** VMM diagnostics (standard error), without the timing line. */
  messages: string;
}

/** The VMM's --timing line (native/vmm/vmm.c print_timing). */
export const TIMING_RE = /^unimem-vmm: timing start_ns=(\d+) entry_ns=(\d+) exit_ns=(\d+) setup_us=([\d.]+) status=(-?\d+) phases_us=(\S+) cpu_us=([\d.]+) invocations=(\d+)$/m;

export interface VmmTiming {
  /** From the VMM's start to the first KVM_RUN, µs (its own clock). */
  setupMicros: number;
  /** From the first KVM_RUN to the guest's exit, µs. */
  guestMicros: number;
  /** The VMM's clocks (CLOCK_MONOTONIC ns): start, guest entry, guest exit. */
  clocksNs: { start: bigint; entry: bigint; exit: bigint };
  /** Start-up phases before guest entry, µs each (native/vmm/vmm.c print_timing). */
  phases: Record<string, number>;
  /** The VMM's CPU time (all threads) from its start to guest entry, µs. */
  cpuMicros: number;
  /** Invocations the VMM handed to the guest. */
  invocations: number;
}

/** The timing line in a VMM's standard error, or null. */
export function parseTiming(text: string): VmmTiming | null {
  const m = TIMING_RE.exec(text);
  if (!m) return null;
  const phases: Record<string, number> = {};
  for (const kv of m[6].split(',')) {
    const [k, v] = kv.split(':');
    phases[k] = Number(v);
  }
  const clocksNs = { start: BigInt(m[1]), entry: BigInt(m[2]), exit: BigInt(m[3]) };
  return { setupMicros: Number(m[4]), guestMicros: Number(clocksNs.exit - clocksNs.entry) / 1000, clocksNs, phases, cpuMicros: Number(m[7]), invocations: Number(m[8]) };
}

/** Boot one image to completion (no --hold) and return what it printed. */
export function bootOnce(o: VmmOptions, timeoutMs = 20_000): BootResult {
  const bin = vmmBinary();
  const r = spawnSync(bin, vmmArgs({ ...o, hold: false }), { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new UserError(`${bin}: ${(r.error as Error).message}`);
  const none: VmmTiming = { setupMicros: NaN, guestMicros: NaN, clocksNs: { start: 0n, entry: 0n, exit: 0n }, phases: {}, cpuMicros: NaN, invocations: 0 };
  return { ...(parseTiming(r.stderr) ?? none), status: r.status ?? 128, console: r.stdout, messages: r.stderr.replace(TIMING_RE, '').trim() };
}

/** Start a VMM that holds its VM after the guest exits; its console goes to `consoleFile`. */
export function startVmm(o: VmmOptions, consoleFile: string): ChildProcess {
  const out = fs.openSync(consoleFile, 'w');
  try {
    return spawn(vmmBinary(), vmmArgs({ ...o, hold: true }), { stdio: ['ignore', out, out] });
  } finally {
    fs.closeSync(out);
  }
}
