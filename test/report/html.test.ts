/** report.html: self-contained, one section per experiment, real vega plots, deterministic. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentProgress } from '../../src/base/progress.ts';
import type { ExperimentResult } from '../../src/experiments/types.ts';
import { renderHtmlReport } from '../../src/report/html.ts';
import { seriesSpec, thinPoints } from '../../src/report/plots.ts';
import { toy } from '../fixtures/registry.ts';

function toyResult(quick = true): ExperimentResult {
  return toy.run(toy.defaults(quick), { seed: 1, progress: silentProgress });
}

describe('report.html', () => {
  it('has a section per experiment with its description, tables, comparison and one figure per series', async () => {
    const r = toyResult();
    const html = await renderHtmlReport([r, { ...r, experiment: 'toy2', title: 'Second toy' }], { findExperiment: (n) => (n === 'toy' ? toy : undefined) });
    assert.equal((html.match(/<section class="experiment"/g) ?? []).length, 2);
    assert.ok(html.includes(toy.description));
    assert.ok(html.includes('Host memory after the last VM started'));
    assert.ok(html.includes('memory saved by aligned images'));
    assert.equal((html.match(/<figure class="plot"/g) ?? []).length, 4);
    assert.equal((html.match(/<svg /g) ?? []).length, 4);
  });

  it('is self-contained: no script, no external reference, a policy that forbids loading anything', async () => {
    const html = await renderHtmlReport([toyResult()]);
    assert.ok(!/<script/i.test(html));
    assert.ok(!/<link /i.test(html));
    assert.ok(!/(src|href)="(https?:)?\/\//i.test(html));
    // The only URLs left are XML namespace names inside the SVGs, which are never fetched.
    const urls = [...html.matchAll(/https?:\/\/[^"'\s)]+/g)].map((m) => m[0]);
    assert.deepEqual([...new Set(urls)].sort(), ['http://www.w3.org/1999/xlink', 'http://www.w3.org/2000/svg']);
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  });

  it('is a function of the results only', async () => {
    assert.equal(await renderHtmlReport([toyResult()]), await renderHtmlReport([toyResult()]));
  });

  it('escapes text from results', async () => {
    const r = toyResult();
    r.tables[0].rows[0][0] = '<b>&"x"</b>';
    const html = await renderHtmlReport([r]);
    assert.ok(html.includes('&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;'));
  });

  it('draws lines with quantitative x, and bars side by side when a category holds several configurations', () => {
    const [line, bar] = toyResult().series;
    const l = seriesSpec(line) as { mark: { type: string }; encoding: { x: { type: string } } };
    const b = seriesSpec(bar) as { mark: { type: string }; encoding: { xOffset?: { field: string } } };
    const grouped = seriesSpec({ ...bar, points: [...bar.points, ...bar.points.map((p) => ({ ...p, series: `${p.series}, 2 MiB pages` }))] }) as typeof b;
    assert.equal(l.mark.type, 'line');
    assert.equal(l.encoding.x.type, 'quantitative');
    assert.equal(b.mark.type, 'bar');
    assert.equal(b.encoding.xOffset, undefined, 'one configuration per category: no offset');
    assert.equal(grouped.encoding.xOffset?.field, 'series', 'several per category: side by side');
  });

  it('thins long series per configuration, keeping each one\'s last point', () => {
    const points = ['a', 'b'].flatMap((s) => Array.from({ length: 1001 }, (_, i) => ({ series: s, x: i, y: i })));
    const { points: kept, thinned } = thinPoints(points, 100);
    assert.ok(thinned);
    for (const s of ['a', 'b']) {
      const mine = kept.filter((p) => p.series === s);
      assert.ok(mine.length <= 101 && mine.length >= 50);
      assert.equal(mine[mine.length - 1].x, 1000);
    }
  });
});
