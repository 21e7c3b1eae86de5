/**
 * `npm run bench`: every benchmark, several runs each, medians printed and written to
 * bench/results.json. Benchmarks are programs, not tests: they assert nothing, they measure.
 *
 *   npm run bench -- --runs 5 --only hw   (only that group; the other figures in results.json stay)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { thpMode } from '../src/base/hugepages.ts';
import { median } from '../src/base/stats.ts';
import { writeFileAtomic } from '../src/base/system.ts';
import { formatTable } from '../src/base/table.ts';
import { arena } from '../src/hw/arena.ts';
import type { BenchFigure } from './types.ts';

interface Bench {
  group: string;
  /** Its figures are counts that do not vary between runs (bench/icount.ts): measured once. */
  deterministic?: boolean;
  run: () => BenchFigure[] | Promise<BenchFigure[]>;
}

const benches: Bench[] = [];

/** Benchmarks contributed by other layers, loaded if present (each exports `benchmarks`). */
const OPTIONAL_MODULES = ['./host-frames.ts', './dedup.ts', './guest-malloc.ts', './trace.ts', './replay.ts', './realhost.ts', './hw-access.ts', './cref.ts', './icount.ts', './images.ts'];

interface Figure {
  name: string;
  median: number;
  unit: string;
  target: string;
  runs: number[];
  /** The machine and day of the run that measured the figure (absent in figures of older runs). */
  measuredOn?: MeasuredOn;
}

interface MeasuredOn {
  cpu: string;
  date: string;
  /** Whether the model's memory was advised for 2 MiB pages (src/base/hugepages.ts), and the host's THP mode (absent in older runs). */
  hugePages?: string;
}

/**
 * The processor, more exactly than its model name: machines of one kind here have been Intel Xeon
 * and AMD EPYC hosts under the same name pattern, and the access path's ratios to its C reference
 * differ between them (docs/machine.md), so a figure says which it was measured on.
 */
function cpuDescription(): string {
  const name = os.cpus()[0]?.model ?? '';
  let info = '';
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return name;
  }
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '?';
  return `${name} (${field('vendor_id')} family ${field('cpu family')} model ${field('model')} stepping ${field('stepping')})`;
}

function previousFigures(file: string): Figure[] {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { figures?: Figure[] }).figures ?? [];
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
  const onlyAt = args.indexOf('--only');
  const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const m of OPTIONAL_MODULES) {
    try {
      const mod = (await import(path.join(here, m))) as { benchmarks?: Bench[] };
      if (mod.benchmarks) benches.push(...mod.benchmarks);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    }
  }
  const samples = new Map<string, { values: number[]; unit: string; target?: string }>();
  for (const b of benches) {
    if (only && b.group !== only) continue;
    for (let r = 0; r < (b.deterministic ? 1 : runs); r++) {
      for (const f of await b.run()) {
        const s = samples.get(f.name) ?? { values: [], unit: f.unit, target: f.target };
        s.values.push(f.value);
        samples.set(f.name, s);
      }
    }
  }
  const measuredOn: MeasuredOn = { cpu: cpuDescription(), date: new Date().toISOString().slice(0, 10), hugePages: `${arena.hugePages} (THP ${thpMode()})` };
  const figures: Figure[] = [...samples].map(([name, s]) => ({
    name,
    median: Number(median(s.values).toPrecision(4)),
    unit: s.unit,
    target: s.target ?? '',
    runs: s.values.map((v) => Number(v.toPrecision(4))),
    measuredOn,
  }));
  process.stdout.write(formatTable(['benchmark', 'median', 'unit', 'target', 'runs'], figures.map((f) => [f.name, f.median, f.unit, f.target, f.runs.join(' ')])));
  const resultsFile = path.join(here, 'results.json');
  const out = {
    machine: { cpus: os.cpus().length, model: measuredOn.cpu, node: process.version, loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))) },
    runsPerBenchmark: runs,
    figures: only ? mergeFigures(previousFigures(resultsFile), figures) : figures,
  };
  writeFileAtomic(resultsFile, JSON.stringify(out, null, 2) + '\n');
}

/**
 * With --only, the other groups' figures of an earlier run stay in the file, in their places, so
 * the file's diff shows only what was measured again; figures new to the file go at the end.
 */
function mergeFigures<F extends { name: string }>(previous: F[], measured: F[]): F[] {
  const byName = new Map(measured.map((f) => [f.name, f]));
  const merged = previous.map((f) => byName.get(f.name) ?? f);
  const known = new Set(previous.map((f) => f.name));
  return [...merged, ...measured.filter((f) => !known.has(f.name))];
}

await main();
