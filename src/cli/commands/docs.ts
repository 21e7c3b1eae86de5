/**
 * `unimem docs [--out DIR] [--check]`: regenerate docs/parameters.md, docs/experiments.md and
 * docs/cli.md from the schemas, the registry and the commands' help; `--check` only compares and
 * exits 2 when a committed file is stale.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../base/errors.ts';
import { checkOutputFile } from '../../base/output.ts';
import type { System } from '../../base/system.ts';
import { experiments } from '../../experiments/index.ts';
import { generatedDocs } from '../../report/docs.ts';

export function registerDocs(program: Command, sys: System): void {
  program
    .command('docs')
    .description('regenerate docs/parameters.md, docs/experiments.md and docs/cli.md from the code')
    .option('--out <dir>', 'documentation directory', 'docs')
    .option('--check', 'write nothing; exit 2 if a generated file is out of date')
    .action((opts: { out: string; check?: boolean }) => {
      const docs = generatedDocs(experiments, program);
      for (const d of docs) checkOutputFile('--out', path.join(opts.out, d.name));
      if (opts.check) {
        const stale = docs.map((d) => path.join(opts.out, d.name)).filter((f, i) => !sys.exists(f) || sys.readText(f) !== docs[i].content);
        if (stale.length > 0) throw new UserError(`${stale.join(', ')}: out of date; run unimem docs`);
        sys.write(`${docs.map((d) => path.join(opts.out, d.name)).join(', ')}: up to date\n`);
        return;
      }
      for (const d of docs) sys.writeFileAtomic(path.join(opts.out, d.name), d.content);
      sys.write(`Wrote ${docs.map((d) => path.join(opts.out, d.name)).join(', ')}\n`);
    });
}
