/** Terminal rendering of an ExperimentResult: its tables and its comparison with the paper. */
import { formatTable } from '../base/table.ts';
import type { ExperimentResult } from '../experiments/types.ts';

export function renderText(r: ExperimentResult): string {
  const parts: string[] = [`== ${r.title} (seed ${r.seed}${r.quick ? ', quick' : ''})\n`];
  for (const t of r.tables) {
    parts.push(`\n${t.title}\n`);
    parts.push(formatTable(t.columns, t.rows));
  }
  if (r.comparisons.length > 0) {
    parts.push('\nAgainst the paper\n');
    parts.push(
      formatTable(
        ['metric', 'paper', 'ours', 'unit', 'note'],
        r.comparisons.map((c) => [c.metric, c.paper, c.ours, c.unit, c.note]),
      ),
    );
  }
  return parts.join('');
}
