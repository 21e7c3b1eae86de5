/**
 * User-facing errors. Anything the user can fix (a malformed ELF, trace or config; an impossible
 * request) is a UserError: the command line prints its one-line message and exits with code 2,
 * never a stack trace. Anything else is a bug and keeps its stack.
 */
import * as fs from 'node:fs';

export const EXIT_USAGE = 2;

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** A problem in a named input file: "<file>: <problem>". */
export class InputError extends UserError {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'InputError';
  }
}

/** A problem with one configuration field: "<file>: <path>: <problem>". */
export class ConfigError extends UserError {
  constructor(readonly file: string, readonly field: string, problem: string) {
    super(`${file}: ${field ? field + ': ' : ''}${problem}`);
    this.name = 'ConfigError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** A user's text file, or an InputError naming it and why it cannot be read. */
export function readInputText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
