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
import { jsonTextDepth, valueDepth } from '../base/nesting.ts';
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

/** Validate a config object against an experiment's schema and cross-field rules, naming `file` in errors. */
export function validateConfig(exp: Experiment, value: unknown, file: string, prefix = 'config'): unknown {
  const parsed = exp.schema.safeParse(value);
  if (!parsed.success) {
    const { field, problem } = describeZodError(parsed.error, (p) => knownKeys(exp, p));
    throw new ConfigError(file, [prefix, field].filter(Boolean).join('.'), problem);
  }
  const broken = exp.check?.(parsed.data);
  if (broken) throw new ConfigError(file, [prefix, broken.field].filter(Boolean).join('.'), broken.problem);
  return parsed.data;
}

/**
 * The bound of a quick run (`--quick`, or `quick: true` in a file): it may ask for at most this
 * many times the simulated work of the experiment's quick defaults (Experiment.work), which finish
 * in well under a minute. A file that starts from the quick defaults and raises a count past the
 * bound is refused, so that "quick" keeps its promise whatever the file says.
 */
export const QUICK_WORK_FACTOR = 4;

const count = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The bound of a quick run broken by `config`, as a problem of the envelope's `quick`; undefined when it holds. */
export function quickWorkProblem(exp: Experiment, config: unknown): string | undefined {
  if (!exp.work) return undefined;
  const limit = exp.work(exp.defaults(true)).amount * QUICK_WORK_FACTOR;
  const asked = exp.work(config);
  if (asked.amount <= limit) return undefined;
  return (
    `a quick run asks for at most ${count(limit)} ${asked.unit} (${QUICK_WORK_FACTOR}x its defaults); this configuration asks for ${count(asked.amount)}: ` +
    `lower ${asked.fields.join(', ')}, or set quick: false`
  );
}

/**
 * Limits on a configuration file, far above any real one (the largest default is a few hundred
 * bytes): they bound the work a hostile file can cause before the one-line error.
 */
export const CONFIG_LIMITS = {
  /**
   * Bytes of the file: `unimem config show` gives files of 1-2 KiB, and the yaml package needs
   * about a second for 64 KiB of keys on a busy machine.
   */
  bytes: 16 * 1024,
  /** Nesting of mappings and lists. */
  depth: 32,
  /** Alias expansions (YAML anchors): a few hundred nodes of real use, not a billion laughs. */
  aliases: 100,
} as const;

/**
 * The first key given twice in one YAML mapping, found in linear time (the yaml package's own
 * uniqueKeys check compares every pair: 31 s for 60,000 keys).
 */
function duplicateKey(doc: YAML.Document, text: string): { key: string; where: string } | undefined {
  let found: { key: string; range?: [number, number, number] } | undefined;
  YAML.visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = YAML.isScalar(pair.key) ? String(pair.key.value) : JSON.stringify(pair.key);
        if (seen.has(key)) {
          found = { key, range: YAML.isNode(pair.key) ? pair.key.range ?? undefined : undefined };
          return YAML.visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  if (!found) return undefined;
  if (!found.range) return { key: found.key, where: '' };
  const before = text.slice(0, found.range[0]);
  return { key: found.key, where: `line ${before.split('\n').length}, column ${found.range[0] - before.lastIndexOf('\n')}: ` };
}

/**
 * An upper estimate of the nesting, counted without parsing: the YAML parser recurses per level,
 * so 60,000 brackets or 5,000 compact `- ` on one line take seconds to fail. Counts flow brackets
 * (`[`, `{`) and, per line, half the indentation plus the `- ` and `: ` indicators. Indicators
 * inside quoted text count too, which only matters for text with hundreds of them.
 */
function nestingEstimate(text: string): number {
  let depth = 0;
  let deepest = 0;
  let line = 0;
  let indent = 0;
  let atLineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line = 0;
      indent = 0;
      atLineStart = true;
      continue;
    }
    if (atLineStart && c === 0x20) indent++;
    else atLineStart = false;
    if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
    else if ((c === 0x2d || c === 0x3a) && text.charCodeAt(i + 1) === 0x20) line++;
    deepest = Math.max(deepest, depth + line + (indent >> 1));
  }
  return deepest;
}

const tooDeep = (file: string): ConfigError => new ConfigError(file, '', `nested more than ${CONFIG_LIMITS.depth} levels deep; no parameter lies that deep`);

function parseYaml(file: string, text: string): unknown {
  if (nestingEstimate(text) > 8 * CONFIG_LIMITS.depth) throw tooDeep(file);
  let doc: YAML.Document;
  try {
    doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: false });
  } catch (e) {
    if (e instanceof RangeError) throw tooDeep(file);
    throw e;
  }
  const err = doc.errors[0];
  if (err) {
    if (/Maximum call stack/.test(err.message)) throw tooDeep(file);
    const where = err.linePos ? `line ${err.linePos[0].line}, column ${err.linePos[0].col}: ` : '';
    const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(file, '', `invalid YAML: ${where}${msg}`);
  }
  const dup = duplicateKey(doc, text);
  if (dup) throw new ConfigError(file, '', `invalid YAML: ${dup.where}Map keys must be unique ('${dup.key}' is given twice)`);
  try {
    return doc.toJS({ maxAliasCount: CONFIG_LIMITS.aliases });
  } catch (e) {
    // The yaml package reports an undefined alias and an alias bomb as ReferenceErrors.
    if (e instanceof ReferenceError) throw new ConfigError(file, '', `invalid YAML: ${e.message.replace(/^Unresolved alias/, 'undefined alias')}`);
    if (e instanceof RangeError) throw tooDeep(file);
    throw e;
  }
}

/** Parse YAML or JSON (by extension); syntax errors give the line and column. */
export function parseConfigText(file: string, text: string): unknown {
  if (text.length > CONFIG_LIMITS.bytes) {
    throw new ConfigError(file, '', `${text.length} bytes; a configuration file is at most ${CONFIG_LIMITS.bytes} bytes`);
  }
  let value: unknown;
  if (path.extname(file).toLowerCase() === '.json') {
    if (jsonTextDepth(text, CONFIG_LIMITS.depth) > CONFIG_LIMITS.depth) throw tooDeep(file);
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(file, '', `invalid JSON: ${(e as Error).message.split('\n')[0]}`);
    }
  } else {
    value = parseYaml(file, text);
  }
  if (valueDepth(value, CONFIG_LIMITS.depth) > CONFIG_LIMITS.depth) throw tooDeep(file);
  return value;
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
  const config = validateConfig(exp, merged, nameOrFile);
  const tooMuch = q ? quickWorkProblem(exp, config) : undefined;
  if (tooMuch) throw new ConfigError(nameOrFile, 'quick', tooMuch);
  return { experiment: exp, config, seed: env.data.seed, quick: q, file: nameOrFile };
}
