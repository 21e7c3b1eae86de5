/** Option parsers shared by sub-commands: they turn bad flags into one-line UserErrors. */
import { UserError } from '../base/errors.ts';

export function parseSeed(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UserError(`--seed: '${text}' is not an integer in 0..4294967295`);
  return n;
}

export function parsePositiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n <= 0) throw new UserError(`${flag}: '${text}' is not a positive integer`);
    return n;
  };
}

export const DEFAULT_SEED = 1;
