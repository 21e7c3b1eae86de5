/**
 * Caches kept in the OS temporary directory: image sets, their library objects and pools, compiled
 * FaaS functions. Each entry is keyed by content, so a change of the code or of its inputs makes a
 * new entry beside the old ones, which nothing would ever read again (a 1000-function FaaS set is
 * about 370 MB). An entry's modification time is its last use: a hit marks it, and building a new
 * entry removes the entries of the same kind unused for `cacheUnusedDays()` days.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Days after which an unused cache entry is removed: UNIMEM_CACHE_DAYS, else 14. */
export function cacheUnusedDays(): number {
  const days = Number(process.env.UNIMEM_CACHE_DAYS);
  return Number.isFinite(days) && days > 0 ? days : 14;
}

/** Mark a cache entry (a folder or a file) used now. */
export function markUsed(entry: string): void {
  const now = new Date();
  try {
    fs.utimesSync(entry, now, now);
  } catch {
    // removed meanwhile (by a user, or by another run's pruning): the next use rebuilds it
  }
}

/**
 * Remove the entries of `dir` whose names match `kind` and that were not used for `days` days,
 * except `keep`; returns the paths removed. Entries another process removes meanwhile are skipped.
 */
export function pruneUnused(dir: string, kind: RegExp, keep?: string, days = cacheUnusedDays(), now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  const oldest = now - days * 86_400_000;
  for (const name of names.sort()) {
    const entry = path.join(dir, name);
    if (!kind.test(name) || entry === keep) continue;
    try {
      if (fs.lstatSync(entry).mtimeMs >= oldest) continue;
      fs.rmSync(entry, { recursive: true, force: true });
      removed.push(entry);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}
