/** Processes of this machine whose command line has every one of `args` as an argument (from /proc). */
import * as fs from 'node:fs';

export function processesWith(args: string[]): number[] {
  const found: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.every((a) => cmd.includes(a))) found.push(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}
