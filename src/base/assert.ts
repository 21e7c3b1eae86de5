/**
 * Invariant checks behind a level switch: tests run whole-structure scans (no frame owned twice,
 * reference counts balance), benchmarks run none. Cheap asserts are always on.
 */
export const enum AssertionLevel {
  None = 0,
  Normal = 1,
  Aggressive = 2,
}

let level: AssertionLevel = AssertionLevel.Normal;

export function setAssertionLevel(l: AssertionLevel): void {
  level = l;
}

export function assertionLevel(): AssertionLevel {
  return level;
}

export function shouldCheck(l: AssertionLevel): boolean {
  return level >= l;
}

export class InvariantError extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'InvariantError';
  }
}

export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new InvariantError(message);
}
