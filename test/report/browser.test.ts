/**
 * report.html in a real browser: Debian's chromium driven by playwright-core loads a report built
 * from the fixture experiment. The page must load without console errors or failed requests (the
 * Content-Security-Policy turns any attempt to fetch something into a console error), fetch nothing
 * but itself, and draw every plot: an <svg> with marks (line paths, bar rects) carrying data.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { silentProgress } from '../../src/base/progress.ts';
import { renderHtmlReport } from '../../src/report/html.ts';
import { tempDir } from '../fixtures/cli.ts';
import { toy } from '../fixtures/registry.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('report.html in headless chromium', { skip: !fs.existsSync(CHROMIUM) && `${CHROMIUM} is missing (scripts/install.sh installs it)` }, () => {
  let browser: BrowserContext;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir();
    // A fresh profile per run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(path.join(tmp.dir, 'profile'), {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  after(async () => {
    await browser?.close();
    tmp.cleanup();
  });

  it('loads without console errors and draws every plot with its data', async () => {
    const result = toy.run(toy.defaults(true), { seed: 1, progress: silentProgress });
    const file = path.join(tmp.dir, 'report.html');
    fs.writeFileSync(file, await renderHtmlReport([result], { findExperiment: () => toy }));

    const page = await browser.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    page.on('request', (r) => requests.push(r.url()));
    const response = await page.goto(`file://${file}`, { waitUntil: 'load' });
    assert.ok(response?.ok());
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, [`file://${file}`], 'the report fetches nothing but itself');

    const figures = await page.$$eval('figure.plot', (els) =>
      els.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        // vega draws line marks as one <path> per series and bars as one <path> per bar, inside
        // groups classed mark-line / mark-rect; a drawn mark has a non-empty path.
        const marks = [...f.querySelectorAll('g.mark-line path, g.mark-rect path, g.mark-symbol path')].filter(
          (p) => (p.getAttribute('d') ?? '').length > 2,
        );
        return {
          series: f.getAttribute('data-series'),
          kind: f.getAttribute('data-kind'),
          points: Number(f.getAttribute('data-points')),
          width: box?.width ?? 0,
          height: box?.height ?? 0,
          lines: f.querySelectorAll('g.mark-line path').length,
          bars: f.querySelectorAll('g.mark-rect path').length,
          marks: marks.length,
          legend: f.querySelector('g.role-legend') !== null,
          axisTitles: [...f.querySelectorAll('g.role-axis-title text')].map((t) => t.textContent),
        };
      }),
    );
    assert.deepEqual(
      figures.map((f) => f.series),
      result.series.map((s) => s.name),
    );
    for (const [i, f] of figures.entries()) {
      const s = result.series[i];
      assert.ok(f.width > 100 && f.height > 100, `${f.series}: drawn with a size`);
      assert.ok(f.marks > 0, `${f.series}: has marks`);
      assert.equal(f.points, s.points.length, `${f.series}: every point is in the plot`);
      assert.ok(f.legend, `${f.series}: has a legend of configurations`);
      assert.ok(f.axisTitles.includes(`${s.y} (${s.yUnit})`), `${f.series}: y axis says what and in which unit`);
      const configurations = new Set(s.points.map((p) => p.series)).size;
      if (f.kind === 'line') assert.equal(f.lines, configurations, `${f.series}: one line per configuration`);
      else assert.equal(f.bars, s.points.length, `${f.series}: one bar per point`);
    }
    await page.close();
  });
});
