/**
 * Plots for the report: each ResultSeries becomes a vega-lite spec (line or bar, one colour per
 * `series` label), compiled to vega and rendered to an SVG string on the server with vega's
 * headless view (`renderer: 'none'`, no canvas package needed). The HTML report inlines the SVG, so
 * it needs no script and no network to display.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { ResultSeries } from '../experiments/types.ts';

/** Points per series above which a line plot is thinned (SVG size grows with every vertex). */
export const MAX_LINE_POINTS = 600;

export const PLOT_WIDTH = 560;
export const PLOT_HEIGHT = 260;

/**
 * Keep every k-th point of each series (and its last), so a long time series stays a light SVG;
 * the full data stays in results.json. Returns the points kept and whether any were dropped.
 */
export function thinPoints(points: ResultSeries['points'], max = MAX_LINE_POINTS): { points: ResultSeries['points']; thinned: boolean } {
  const bySeries = new Map<string, ResultSeries['points']>();
  for (const p of points) {
    let list = bySeries.get(p.series);
    if (!list) bySeries.set(p.series, (list = []));
    list.push(p);
  }
  let thinned = false;
  const out: ResultSeries['points'] = [];
  for (const list of bySeries.values()) {
    if (list.length <= max) {
      out.push(...list);
      continue;
    }
    thinned = true;
    const step = Math.ceil(list.length / max);
    for (let i = 0; i < list.length; i += step) out.push(list[i]);
    if ((list.length - 1) % step !== 0) out.push(list[list.length - 1]);
  }
  return { points: out, thinned };
}

function axisTitle(name: string, unit: string): string {
  return unit ? `${name} (${unit})` : name;
}

/** The vega-lite spec of one series; data is inlined, so the spec is self-contained. */
export function seriesSpec(s: ResultSeries): TopLevelSpec {
  const numericX = s.points.length > 0 && s.points.every((p) => typeof p.x === 'number');
  const { points } = s.kind === 'line' ? thinPoints(s.points) : { points: s.points };
  const perSeries = points.length / Math.max(1, new Set(points.map((p) => p.series)).size);
  const y = { field: 'y', type: 'quantitative' as const, title: axisTitle(s.y, s.yUnit) };
  const color = { field: 'series', type: 'nominal' as const, title: 'configuration' };
  const common = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    description: s.title,
    title: s.title,
    width: PLOT_WIDTH,
    height: PLOT_HEIGHT,
    data: { values: points.map((p) => ({ series: p.series, x: p.x, y: p.y })) },
    config: { font: 'sans-serif', view: { stroke: null } },
  };
  if (s.kind === 'bar') {
    // Side by side only when an x category holds several configurations; otherwise bars stay centred.
    const perX = new Map<string, number>();
    for (const p of points) perX.set(String(p.x), (perX.get(String(p.x)) ?? 0) + 1);
    const grouped = [...perX.values()].some((n) => n > 1);
    return {
      ...common,
      mark: { type: 'bar', tooltip: false },
      encoding: {
        x: { field: 'x', type: numericX ? 'ordinal' : 'nominal', title: s.x, sort: null, axis: { labelAngle: 0 } },
        ...(grouped ? { xOffset: { field: 'series', type: 'nominal', sort: null } } : {}),
        y,
        color: { ...color, sort: null },
      },
    } as TopLevelSpec;
  }
  return {
    ...common,
    mark: { type: 'line', point: perSeries <= 40, interpolate: 'linear' },
    encoding: {
      x: { field: 'x', type: numericX ? 'quantitative' : 'ordinal', title: s.x, sort: null },
      y,
      color: { ...color, sort: null },
    },
  } as TopLevelSpec;
}

/** A logger that keeps warnings instead of printing them: the library never writes to the console. */
function quietLogger(warnings: string[]) {
  let level = 0;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: readonly unknown[]) {
      warnings.push(args.map(String).join(' '));
      return logger;
    },
    warn(...args: readonly unknown[]) {
      warnings.push(args.map(String).join(' '));
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger;
}

export interface RenderedPlot {
  svg: string;
  /** Marks drawn (data points for lines, bars for bars): what the browser test checks. */
  points: number;
  thinned: boolean;
  warnings: string[];
}

/** Render one series to an SVG string. */
export async function renderSeriesSvg(s: ResultSeries): Promise<RenderedPlot> {
  const warnings: string[] = [];
  const spec = seriesSpec(s);
  const compiled = vl.compile(spec, { logger: quietLogger(warnings) as never }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None, logger: quietLogger(warnings) as never });
  try {
    const svg = await view.toSVG();
    const data = (spec as { data: { values: unknown[] } }).data.values;
    return { svg, points: data.length, thinned: s.kind === 'line' && data.length < s.points.length, warnings };
  } finally {
    view.finalize();
  }
}
