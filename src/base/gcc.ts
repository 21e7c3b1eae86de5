/**
 * One gcc run whose output appears whole or not at all: gcc writes a temporary file beside `out`,
 * which is renamed into place when gcc succeeds and removed when it fails, so that a build two
 * processes start at once, or one interrupted, never leaves a half-written file under the final
 * name. The native parts built this way (the trace shim, the huge-page addon, the C reference of
 * the benchmarks) are named by the hash of their source, so a file under the final name is always
 * a finished build of that source.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Why a gcc run failed: gcc is missing, or it refused the source (`detail`: its messages). */
export class GccFailure extends Error {
  constructor(
    readonly missing: boolean,
    readonly detail: string,
  ) {
    super(missing ? 'gcc is not installed' : `gcc failed:\n${detail}`);
  }
}

/** Run gcc with `args` (sources, flags, libraries) writing `out`; throws GccFailure when it fails. */
export function gccInto(out: string, args: readonly string[]): void {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', [...args, '-o', tmp], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const err = e as { code?: string; stderr?: Buffer };
    throw new GccFailure(err.code === 'ENOENT', err.stderr?.toString() || String(e));
  }
  fs.renameSync(tmp, out);
}
