/**
 * `unimem config schema | list | show <experiment> | check <file>`: the configuration schema and
 * defaults, printed from the same zod schemas that validate configuration files.
 */
import type { Command } from 'commander';
import YAML from 'yaml';
import { UserError } from '../../base/errors.ts';
import type { System } from '../../base/system.ts';
import { formatTable } from '../../base/table.ts';
import { knownExperiments, resolveExperimentConfig } from '../../config/load.ts';
import { configFileJsonSchema, listParameters } from '../../config/schema.ts';
import { experiments, findExperiment } from '../../experiments/index.ts';
import type { Experiment } from '../../experiments/types.ts';
import { toJson } from '../../report/results.ts';
import { DEFAULT_SEED } from '../options.ts';

/**
 * A ready-to-edit configuration file: the envelope and the experiment's defaults, each parameter
 * followed by a comment with its unit and meaning.
 */
export function defaultsYaml(exp: Experiment, quick: boolean): string {
  const doc = new YAML.Document({ experiment: exp.name, seed: DEFAULT_SEED, quick, config: exp.defaults(quick) });
  doc.commentBefore = ` ${exp.title}\n Run with: unimem run <this file>. Parameters: docs/parameters.md`;
  for (const p of listParameters(exp)) {
    const node = doc.getIn(['config', ...p.path.split('.')], true);
    if (!YAML.isNode(node)) continue;
    const note = [p.unit && `[${p.unit}]`, p.description].filter(Boolean).join(' ');
    if (note) node.comment = ` ${note}`;
  }
  return doc.toString({ lineWidth: 0 });
}

function requireExperiment(name: string): Experiment {
  const exp = findExperiment(name);
  if (!exp) throw new UserError(`unknown experiment '${name}' (${knownExperiments()})`);
  return exp;
}

export function registerConfig(program: Command, sys: System): void {
  const config = program.command('config').description('configuration files: their schema, the experiments and their defaults');

  config
    .command('schema')
    .description('print the JSON Schema of configuration files (one branch per experiment)')
    .action(() => sys.write(toJson(configFileJsonSchema(experiments))));

  config
    .command('list')
    .description('list the experiments, in the order `unimem reproduce` runs them')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }) => {
      const rows = experiments.map((e) => [e.name, e.title]);
      if (opts.json) sys.write(toJson(experiments.map((e) => ({ name: e.name, title: e.title }))));
      else sys.write(rows.length > 0 ? formatTable(['experiment', 'title'], rows) : 'No experiments are registered yet.\n');
    });

  config
    .command('show')
    .description('print the default configuration of an experiment as a YAML file to edit and run')
    .argument('<experiment>', 'experiment name')
    .option('--quick', 'the quick defaults (a smaller run)')
    .option('--json', 'print as JSON instead of commented YAML')
    .action((name: string, opts: { quick?: boolean; json?: boolean }) => {
      const exp = requireExperiment(name);
      const quick = Boolean(opts.quick);
      sys.write(opts.json ? toJson({ experiment: exp.name, seed: DEFAULT_SEED, quick, config: exp.defaults(quick) }) : defaultsYaml(exp, quick));
    });

  config
    .command('check')
    .description('validate a configuration file without running it')
    .argument('<file>', 'YAML or JSON configuration file')
    .action((file: string) => {
      const r = resolveExperimentConfig(sys, file, false);
      sys.write(`${file}: valid ${r.experiment.name} configuration\n`);
    });
}
