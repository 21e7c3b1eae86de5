/**
 * The real libraries the images link (musl, zlib, SQLite, Lua, mbed TLS, lwIP), built once by
 * scripts/build-libs.sh into a content-addressed cache outside the repository. `realLibraries()`
 * runs the script (it returns at once when the cache is there) and reads what it recorded: each
 * library's Debian source package and version, and where its object and headers are.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../base/errors.ts';

export interface RealLibrary {
  name: string;
  /** Debian source package and its version (musl: the binary package musl-dev). */
  sourcePackage: string;
  version: string;
  origin: string;
}

export interface RealLibraries {
  /** The cache directory: lib<name>.o, include/<name>/, libs.json. */
  dir: string;
  libraries: Map<string, RealLibrary>;
  /** Include directories for compiling code against them. */
  includes: string[];
}

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/build-libs.sh');
let cached: RealLibraries | undefined;

export function realLibraries(): RealLibraries {
  if (cached) return cached;
  let dir: string;
  try {
    dir = execFileSync('bash', [SCRIPT, '--quiet'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 20 }).trim().split('\n').pop()!;
  } catch (e) {
    const err = e as { stderr?: string };
    throw new UserError(`the real libraries could not be built (scripts/build-libs.sh; run scripts/install.sh): ${(err.stderr ?? String(e)).trim().split('\n').slice(-3).join(' | ')}`);
  }
  const raw = JSON.parse(fs.readFileSync(path.join(dir, 'libs.json'), 'utf8')) as { libraries: RealLibrary[] };
  const libraries = new Map(raw.libraries.map((l) => [l.name, l]));
  const includes = fs.readdirSync(path.join(dir, 'include')).sort().map((d) => path.join(dir, 'include', d));
  cached = { dir, libraries, includes };
  return cached;
}

/** Object file of a real library. */
export const realObject = (libs: RealLibraries, name: string): string => path.join(libs.dir, `lib${name}.o`);
