/**
 * The `unimem` command. A thin layer: it parses flags, picks the System, and maps errors to exit
 * codes (user errors: one line on standard error and exit 2; bugs: stack trace and exit 1).
 */
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, isUserError } from '../base/errors.ts';
import { nodeSystem, type System } from '../base/system.ts';
import { registerConfig } from './commands/config.ts';
import { registerDocs } from './commands/docs.ts';
import { registerMerge, registerSweep } from './commands/sweep.ts';
import { registerReproduce } from './commands/reproduce.ts';
import { registerRun } from './commands/run.ts';
import { registerImage } from './commands/image.ts';
import { registerHost } from './commands/host.ts';

/** Help is wrapped at a fixed width off a terminal, so help text (and its golden files) is stable. */
export const HELP_WIDTH = 100;

export function buildProgram(sys: System): Command {
  const program = new Command('unimem')
    .description('Memory management for dense unikernel hosting: UCat tiered allocators and library-aligned page sharing, on a simulated host')
    .version('0.1.0')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => sys.write(s),
      writeErr: (s) => sys.writeError(s),
      getOutHelpWidth: () => HELP_WIDTH,
      getErrHelpWidth: () => HELP_WIDTH,
    })
    .exitOverride();
  registerRun(program, sys);
  registerImage(program, sys);
  registerReproduce(program, sys);
  registerConfig(program, sys);
  registerSweep(program, sys);
  registerMerge(program, sys);
  registerDocs(program, sys);
  registerHost(program, sys);
  return program;
}

/** Run the command line; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[], sys: System = nodeSystem()): Promise<number> {
  const program = buildProgram(sys);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return EXIT_USAGE; // commander already printed its one-line message
    }
    if (isUserError(e)) {
      sys.writeError(`unimem: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

// `node --import tsx src/cli/main.ts ...` (the `npm run unimem` script) runs the command line;
// importing this module (bin/unimem.js, tests) does not.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
