/**
 * Trace replay benchmark: events per second a traced program replays in one VM (interval map,
 * guest allocator, vCPU access path), per CPU second of this process, for stock OSv and UCat
 * guests. The trace is trace.ts's synthetic server-shaped stream.
 *
 * Run alone: node --import tsx bench/replay.ts [--accesses N]; or `npm run bench -- --only replay`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TracedProgram } from '../src/apps/traced.ts';
import { fileSource } from '../src/experiments/ucat/prepare.ts';
import { SimHost } from '../src/sim/index.ts';
import { writeSyntheticTrace } from './trace.ts';
import type { BenchFigure } from './types.ts';

const MiB = 1024 * 1024;

function replayRate(file: string, guest: 'osv' | 'ucat'): number {
  const variant = guest === 'ucat' ? 'tierAware' : 'baseline';
  const host = new SimHost({ cpu: 'icelake', host: { tiers: [{ tier: 'ddr4', bytes: 256 * MiB }, { tier: 'optane', bytes: 1024 * MiB }], variant, policy: { hugeBacking: guest === 'ucat' ? 'madvise' : 'always' } } });
  const vm = host.startVm({ memory: [{ tier: 'ddr4', bytes: 64 * MiB }, { tier: 'optane', bytes: 256 * MiB }], guest });
  const p = new TracedProgram(vm.guest.malloc, vm.guest.kernel, vm.vcpu, fileSource(file), { costs: { cyclesPerInstruction: 1, cyclesPerRequest: 0 } });
  const c0 = process.cpuUsage();
  p.step(Infinity);
  const cpu = process.cpuUsage(c0);
  return p.counters.events / ((cpu.user + cpu.system) / 1e6);
}

export function benchReplay(accesses = 5_000_000): BenchFigure[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unimem-bench-replay-'));
  try {
    const file = path.join(dir, 'synthetic.umt');
    writeSyntheticTrace(file, accesses);
    return (['osv', 'ucat'] as const).map((g) => ({ name: `replay: ${g} guest, per CPU second`, value: replayRate(file, g) / 1e6, unit: 'M events/s', target: '' }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks = [{ group: 'replay', run: () => benchReplay() }];

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const at = process.argv.indexOf('--accesses');
  for (const f of benchReplay(at >= 0 ? Number(process.argv[at + 1]) : 5_000_000)) console.log(`${f.name}: ${f.value.toFixed(3)} ${f.unit}`);
}
