/**
 * Experiment configuration at the edge. A run is named either by an experiment (its defaults) or by
 * a YAML/JSON file:
 *
 *   experiment: machine        # which experiment
 *   seed: 7                    # optional
 *   quick: false               # optional: start from the quick defaults
 *   config: { ... }            # optional: overrides, validated by the experiment's schema
 *
 * Validation happens once, here; errors name the file, the field path and the problem.
 */
import * as path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError, UserError } from '../base/errors.ts';
import type { System } from '../base/system.ts';
import { experiments, findExperiment } from '../experiments/index.ts';
import type { Experiment } from '../experiments/types.ts';
import { envelopeSchema, knownKeys } from './schema.ts';

export interface ResolvedConfig {
  experiment: Experiment;
  config: unknown;
  seed?: number;
  quick: boolean;
  file?: string;
}

export function knownExperiments(): string {
  return experiments.length > 0 ? `known: ${experiments.map((e) => e.name).join(', ')}` : 'no experiments are registered yet';
}

/** Deep merge of plain objects: overrides win, arrays are replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over;
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

/**
 * First zod issue as a field path and a problem. Unknown keys are named in the path (the key is the
 * field at fault) and the problem lists the keys that are allowed there, when `allowed` knows them.
 */
export function describeZodError(err: z.ZodError, allowed: (path: string) => string[] = () => []): { field: string; problem: string } {
  const issue = err.issues[0];
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const known = allowed(at);
    const key = issue.keys[0];
    return {
      field: at ? `${at}.${key}` : key,
      problem: `unknown key${known.length > 0 ? ` (known here: ${known.join(', ')})` : ''}`,
    };
  }
  // zod's messages start with a category ("Invalid input: expected number, received string",
  // "Too big: expected number to be <=64"); the category adds nothing once the field is named.
  const problem = issue.message.replace(/^(Invalid input|Too big|Too small|Invalid option): /, '');
  return { field: at, problem: issue.code === 'too_big' || issue.code === 'too_small' ? `out of range: ${problem}` : problem };
}

/** Validate a config object against an experiment's schema, naming `file` in errors. */
export function validateConfig(exp: Experiment, value: unknown, file: string, prefix = 'config'): unknown {
  const parsed = exp.schema.safeParse(value);
  if (!parsed.success) {
    const { field, problem } = describeZodError(parsed.error, (p) => knownKeys(exp, p));
    throw new ConfigError(file, [prefix, field].filter(Boolean).join('.'), problem);
  }
  return parsed.data;
}

/** Parse YAML or JSON (by extension); syntax errors give the line and column. */
export function parseConfigText(file: string, text: string): unknown {
  const json = path.extname(file).toLowerCase() === '.json';
  if (json) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError(file, '', `invalid JSON: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const where = err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}: ` : '';
    const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(file, '', `invalid YAML: ${where}${msg}`);
  }
  return doc.toJS();
}

export function resolveExperimentConfig(sys: System, nameOrFile: string, quick: boolean): ResolvedConfig {
  const byName = findExperiment(nameOrFile);
  if (byName) return { experiment: byName, config: byName.defaults(quick), quick };
  if (!/\.(ya?ml|json)$/i.test(nameOrFile)) {
    throw new UserError(`unknown experiment '${nameOrFile}' (${knownExperiments()}; or give a .yaml/.json file)`);
  }
  if (!sys.exists(nameOrFile)) throw new UserError(`${nameOrFile}: no such file`);
  const raw = parseConfigText(nameOrFile, sys.readText(nameOrFile));
  const env = envelopeSchema.safeParse(raw);
  if (!env.success) {
    const { field, problem } = describeZodError(env.error, (p) => (p === '' ? Object.keys(envelopeSchema.shape) : []));
    throw new ConfigError(nameOrFile, field, problem);
  }
  const exp = findExperiment(env.data.experiment);
  if (!exp) {
    throw new ConfigError(nameOrFile, 'experiment', `unknown experiment '${env.data.experiment}' (${knownExperiments()})`);
  }
  const q = env.data.quick ?? quick;
  const merged = deepMerge(exp.defaults(q), env.data.config ?? {});
  return { experiment: exp, config: validateConfig(exp, merged, nameOrFile), seed: env.data.seed, quick: q, file: nameOrFile };
}
