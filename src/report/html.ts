/**
 * The reproduction report: one self-contained HTML file (inline CSS, inline SVG plots, no script,
 * no external URL; a Content-Security-Policy forbids loading anything). A summary table of our
 * figures beside the papers' comes first, then a section per experiment: what it reproduces and
 * how, its comparison with the paper, its headline figures, its tables, its plots and the
 * configuration it ran with. The output is a function of the results only (no date, no host name),
 * so the same results give the same file.
 */
import YAML from 'yaml';
import { formatNumber } from '../base/table.ts';
import type { Experiment, ExperimentResult, ResultTable } from '../experiments/types.ts';
import { renderSeriesSvg } from './plots.ts';
import { SUMMARY_COLUMNS, summaryRows } from './summary.ts';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

const CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --rule: #d9dde5; --bg-alt: #f5f7fa; --accent: #2f5d9b; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0 auto; max-width: 1000px; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.3em; border-bottom: 2px solid var(--rule); padding-bottom: 4px; margin-top: 2.2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 0.4em; }
p.meta, figcaption, .note { color: var(--muted); font-size: 0.9em; }
nav ol { columns: 2; padding-left: 1.2em; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.92em; }
th, td { border-bottom: 1px solid var(--rule); padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0 1.6em; }
figure svg { max-width: 100%; height: auto; }
pre { background: var(--bg-alt); padding: 10px; overflow-x: auto; font-size: 0.85em; }
details summary { cursor: pointer; color: var(--muted); }
`;

function cell(v: string | number, numeric: boolean): string {
  const text = typeof v === 'number' ? formatNumber(v) : v;
  return numeric ? `<td class="num">${escapeHtml(text)}</td>` : `<td>${escapeHtml(text)}</td>`;
}

function htmlTable(columns: readonly string[], rows: readonly (readonly (string | number)[])[], cls = ''): string {
  const numeric = columns.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const head = `<tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((v, i) => cell(v, numeric[i])).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function resultTable(t: ResultTable): string {
  return `<h3>${escapeHtml(t.title)}</h3>\n${htmlTable(t.columns, t.rows, 'result')}`;
}

export function sectionId(experiment: string): string {
  return `exp-${experiment.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

async function experimentSection(r: ExperimentResult, exp: Experiment | undefined): Promise<string> {
  const parts: string[] = [`<section class="experiment" id="${sectionId(r.experiment)}" data-experiment="${escapeHtml(r.experiment)}">`];
  parts.push(`<h2>${escapeHtml(r.title)}</h2>`);
  parts.push(`<p class="meta">experiment <code>${escapeHtml(r.experiment)}</code>, seed ${r.seed}${r.quick ? ', quick run' : ''}</p>`);
  if (exp) {
    parts.push(`<p class="description">${escapeHtml(exp.description)}</p>`);
    if (exp.howToRead) parts.push(`<p class="how-to-read"><strong>How to read it.</strong> ${escapeHtml(exp.howToRead)}</p>`);
  }
  if (r.comparisons.length > 0) {
    parts.push('<h3>Against the paper</h3>');
    parts.push(htmlTable(['metric', 'paper', 'ours', 'unit', 'note'], r.comparisons.map((c) => [c.metric, c.paper, c.ours, c.unit, c.note]), 'comparison'));
  }
  const summary = Object.entries(r.summary);
  if (summary.length > 0) {
    parts.push('<h3>Headline figures</h3>');
    parts.push(htmlTable(['figure', 'value'], summary.map(([k, v]) => [k, v]), 'summary'));
  }
  for (const t of r.tables) parts.push(resultTable(t));
  for (const s of r.series) {
    const plot = await renderSeriesSvg(s);
    const caption = `${s.title}: ${s.y}${s.yUnit ? ` (${s.yUnit})` : ''} against ${s.x}, ${plot.points} points${
      plot.thinned ? ` (thinned from ${s.points.length} for drawing; results.json has them all)` : ''
    }.`;
    parts.push(
      `<figure class="plot" data-series="${escapeHtml(s.name)}" data-kind="${s.kind}" data-points="${plot.points}">\n${plot.svg}\n<figcaption>${escapeHtml(caption)}</figcaption>\n</figure>`,
    );
  }
  parts.push(`<details class="config"><summary>Configuration</summary>\n<pre>${escapeHtml(YAML.stringify(r.config))}</pre>\n</details>`);
  parts.push('</section>');
  return parts.join('\n');
}

export interface ReportOptions {
  title?: string;
  /** Looks up an experiment's description; results of unknown experiments still render. */
  findExperiment?: (name: string) => Experiment | undefined;
}

/** Build report.html from results (in the order given). */
export async function renderHtmlReport(results: readonly ExperimentResult[], opts: ReportOptions = {}): Promise<string> {
  const title = opts.title ?? 'unimem: reproduction report';
  const quick = results.some((r) => r.quick);
  const seeds = [...new Set(results.map((r) => r.seed))].join(', ');
  const sections: string[] = [];
  for (const r of results) sections.push(await experimentSection(r, opts.findExperiment?.(r.experiment)));
  const summary = summaryRows(results);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${results.length} experiment${results.length === 1 ? '' : 's'}, seed ${escapeHtml(seeds || '-')}${quick ? ', quick runs (smaller than the papers\u2019 setups)' : ''}.</p>
<nav><ol>
${results.map((r) => `<li><a href="#${sectionId(r.experiment)}">${escapeHtml(r.title)}</a></li>`).join('\n')}
</ol></nav>
</header>
<section id="summary">
<h2>Our figures beside the papers\u2019</h2>
${summary.length > 0 ? htmlTable([...SUMMARY_COLUMNS], summary, 'comparison') : '<p class="note">No comparisons in these results.</p>'}
</section>
${sections.join('\n')}
</body>
</html>
`;
}
