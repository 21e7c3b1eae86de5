/**
 * One schema, three uses. Each experiment's zod schema validates its configuration; its JSON Schema
 * (zod's `z.toJSONSchema`) documents it: `unimem config schema`, docs/parameters.md and the field
 * checks of `--vary` all read the same tree, so a parameter is declared once, with its unit and
 * source in `.meta({ unit, source })` and its meaning in `.describe()`.
 *
 * A configuration file holds overrides that are merged onto an experiment's defaults, so in the
 * published schema nothing under `config` is required: `required` lists are dropped there.
 */
import { z } from 'zod';
import type { Experiment } from '../experiments/types.ts';

/** A JSON Schema node, as zod emits it (only the fields read here are typed). */
export interface JsonSchema {
  type?: string | string[];
  description?: string;
  unit?: string;
  source?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  [key: string]: unknown;
}

/** The envelope of a configuration file; the experiment's own fields live under `config`. */
export const envelopeFields = {
  experiment: z.string().describe('name of the experiment to run (`unimem config list`)'),
  seed: z.number().int().min(0).max(0xffffffff).optional().describe('seed of every random choice; the command line `--seed` wins'),
  quick: z.boolean().optional().describe('start from the quick defaults (a smaller run) instead of the full ones'),
  config: z.record(z.string(), z.unknown()).optional().describe("overrides of the experiment's defaults (`unimem config show <experiment>`)"),
};

export const envelopeSchema = z.object(envelopeFields).strict();

/** JSON Schema of one experiment's configuration (as written by users: input types). */
export function experimentJsonSchema(exp: Experiment): JsonSchema {
  const schema = z.toJSONSchema(exp.schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete schema.$schema;
  return schema;
}

function relaxRequired(node: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...node };
  delete out.required;
  if (out.properties) out.properties = Object.fromEntries(Object.entries(out.properties).map(([k, v]) => [k, relaxRequired(v)]));
  if (out.items) out.items = relaxRequired(out.items);
  return out;
}

function envelopeProperty(name: keyof typeof envelopeFields): JsonSchema {
  const s = z.toJSONSchema(envelopeFields[name], { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete s.$schema;
  return s;
}

/**
 * JSON Schema of a configuration file: a discriminated union over the registered experiments
 * (`experiment` selects the branch), each branch's `config` being that experiment's parameters.
 */
export function configFileJsonSchema(exps: readonly Experiment[]): JsonSchema {
  const common = { seed: envelopeProperty('seed'), quick: envelopeProperty('quick') };
  const head = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'unimem experiment configuration',
    description:
      'A YAML or JSON file naming one experiment and overriding its defaults; run it with `unimem run <file>`. Values under `config` are merged onto the defaults, so every field there is optional.',
  };
  if (exps.length === 0) {
    return {
      ...head,
      type: 'object',
      properties: { experiment: envelopeProperty('experiment'), ...common, config: envelopeProperty('config') },
      required: ['experiment'],
      additionalProperties: false,
    };
  }
  return {
    ...head,
    oneOf: exps.map((exp) => ({
      type: 'object',
      title: exp.name,
      description: exp.title,
      properties: {
        experiment: { const: exp.name, description: envelopeFields.experiment.description },
        ...common,
        config: { ...relaxRequired(experimentJsonSchema(exp)), description: `overrides of ${exp.name}'s defaults` },
      },
      required: ['experiment'],
      additionalProperties: false,
    })),
  };
}

/** One documented parameter: a leaf of an experiment's schema. */
export interface Parameter {
  path: string;
  type: string;
  unit: string;
  description: string;
  source: string;
  range: string;
  default: unknown;
  quickDefault: unknown;
}

function typeOf(node: JsonSchema): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.anyOf) return node.anyOf.map(typeOf).join(' or ');
  if (node.type === 'array') return `array of ${node.items ? typeOf(node.items) : 'any'}`;
  if (Array.isArray(node.type)) return node.type.join(' or ');
  return node.type ?? 'any';
}

function rangeOf(node: JsonSchema): string {
  const lo = node.minimum !== undefined ? `≥ ${node.minimum}` : node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : '';
  const hi = node.maximum !== undefined ? `≤ ${node.maximum}` : node.exclusiveMaximum !== undefined ? `< ${node.exclusiveMaximum}` : '';
  return [lo, hi].filter(Boolean).join(', ');
}

export function getPath(value: unknown, dotted: string): unknown {
  let v: unknown = value;
  for (const part of dotted.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Every leaf parameter of an experiment, in schema order, with its defaults (full and quick). */
export function listParameters(exp: Experiment): Parameter[] {
  const full = exp.defaults(false);
  const quick = exp.defaults(true);
  const out: Parameter[] = [];
  const walk = (node: JsonSchema, prefix: string) => {
    if (node.type === 'object' && node.properties) {
      for (const [k, child] of Object.entries(node.properties)) walk(child, prefix ? `${prefix}.${k}` : k);
      return;
    }
    out.push({
      path: prefix,
      type: typeOf(node),
      unit: node.unit ?? '',
      description: node.description ?? '',
      source: node.source ?? '',
      range: rangeOf(node),
      default: getPath(full, prefix),
      quickDefault: getPath(quick, prefix),
    });
  };
  walk(experimentJsonSchema(exp), '');
  return out;
}

/** The schema node at a dotted path of an experiment's configuration, or undefined. */
export function schemaAt(exp: Experiment, dotted: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = experimentJsonSchema(exp);
  for (const part of dotted.split('.')) {
    node = node?.properties?.[part];
    if (!node) return undefined;
  }
  return node;
}

/** Keys allowed at a dotted object path (for "unknown key" errors that list the known ones). */
export function knownKeys(exp: Experiment, dotted: string): string[] {
  const node = dotted ? schemaAt(exp, dotted) : experimentJsonSchema(exp);
  return node?.properties ? Object.keys(node.properties) : [];
}
