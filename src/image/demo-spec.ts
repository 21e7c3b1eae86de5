/**
 * The demo set's specification (demo/demo.json): libraries in link order with their dependencies
 * (our platform libraries, compiled from demo/libs/<name>, and the real libraries of the library
 * cache, scripts/build-libs.sh), and the applications (demo/apps/<name>) with the libraries they
 * link. Validated once here; the rest of the toolchain works on the resolved `DemoSpec`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { InputError } from '../base/errors.ts';

/** The repository's demo/ folder (C sources and demo.json). */
export const DEMO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../demo');

const nameRe = /^[a-z][a-z0-9_-]*$/;
const specSchema = z.object({
  libraries: z.array(z.object({ name: z.string().regex(nameRe), kind: z.enum(['platform', 'real']), deps: z.array(z.string()) })),
  base: z.array(z.string()),
  apps: z.array(z.object({ name: z.string().regex(nameRe), libs: z.array(z.string()) })),
});

export interface DemoLibrary {
  /** Library name as in `lib<name>.o`; applications are named `app-<name>`. */
  name: string;
  /** C identifier prefix of its generated symbols. */
  cName: string;
  deps: string[];
  /** C files (absolute paths, sorted); none for a real library (its object comes from the library cache). */
  sources: string[];
  isApp: boolean;
  /** A real library: `lib<name>.o` comes from the library cache (scripts/build-libs.sh). */
  real: boolean;
}

export interface DemoApp {
  name: string;
  /** The application library's name (`app-<name>`). */
  library: string;
  /** Every library the image links, in link order, the application library last. */
  linkOrder: string[];
  /** Libraries the application calls directly. */
  direct: string[];
}

export interface DemoSpec {
  /** Every library (micro-libraries then applications), by name. */
  libraries: Map<string, DemoLibrary>;
  /** Micro-library link order. */
  order: string[];
  apps: DemoApp[];
}

export const cIdent = (name: string): string => name.replace(/-/g, '_');

function cFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.c'))
    .sort()
    .map((f) => path.join(dir, f));
}

export function loadDemoSpec(root: string = DEMO_ROOT): DemoSpec {
  const file = path.join(root, 'demo.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(file, `cannot read the demo specification (${(e as Error).message})`);
  }
  const parsed = specSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(file, `${issue.path.join('.')}: ${issue.message}`);
  }
  const spec = parsed.data;
  const libraries = new Map<string, DemoLibrary>();
  const order: string[] = [];
  for (const l of spec.libraries) {
    libraries.set(l.name, {
      name: l.name,
      cName: cIdent(l.name),
      deps: l.deps,
      sources: l.kind === 'platform' ? cFiles(path.join(root, 'libs', l.name)) : [],
      isApp: false,
      real: l.kind === 'real',
    });
    order.push(l.name);
  }
  for (const l of spec.libraries) for (const d of l.deps) if (!libraries.has(d)) throw new InputError(file, `library ${l.name}: unknown dependency ${d}`);
  for (const b of spec.base) if (!libraries.has(b)) throw new InputError(file, `base: unknown library ${b}`);
  const apps: DemoApp[] = [];
  for (const a of spec.apps) {
    const wanted = new Set<string>();
    const visit = (n: string): void => {
      const lib = libraries.get(n);
      if (!lib) throw new InputError(file, `app ${a.name}: unknown library ${n}`);
      if (wanted.has(n)) return;
      wanted.add(n);
      lib.deps.forEach(visit);
    };
    [...spec.base, ...a.libs].forEach(visit);
    const appLib = `app-${a.name}`;
    const sources = cFiles(path.join(root, 'apps', a.name));
    if (sources.length === 0) throw new InputError(file, `app ${a.name}: no C files in ${path.join(root, 'apps', a.name)}`);
    libraries.set(appLib, { name: appLib, cName: cIdent(appLib), deps: [...a.libs, ...spec.base], sources, isApp: true, real: false });
    apps.push({ name: a.name, library: appLib, linkOrder: [...order.filter((n) => wanted.has(n)), appLib], direct: a.libs });
  }
  return { libraries, order, apps };
}
