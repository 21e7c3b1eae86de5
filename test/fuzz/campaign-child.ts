/**
 * One process of the fuzz campaign: runs `cases` inputs of one target from `seed`, telling the
 * parent each input before running it (so a hang or a crash of this process still names it), each
 * failure, and its peak memory. Exits when the parent goes away.
 */
import * as fc from 'fast-check';
import { acceptableError, FUZZ_TARGETS } from './targets.ts';

const [targetName, seedText, casesText] = process.argv.slice(2);
const target = FUZZ_TARGETS.find((t) => t.name === targetName)!;
const send = (m: unknown): void => void process.send!(m);
process.on('disconnect', () => process.exit(0));

let peakRss = 0;
let index = 0;
fc.check(
  fc.property(target.arbitrary, (input) => {
    send({ kind: 'case', index, input: Buffer.from(input).toString('base64') });
    // CPU time, not wall time: on a shared machine the wall clock measures the neighbours.
    const t0 = process.cpuUsage();
    try {
      target.run(input);
    } catch (e) {
      if (!acceptableError(e)) send({ kind: 'failure', index, message: ((e as Error).stack ?? String(e)).split('\n').slice(0, 3).join(' | ') });
    }
    const used = process.cpuUsage(t0);
    const ms = (used.user + used.system) / 1000;
    if (index % 50 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    send({ kind: 'done', index, ms });
    index++;
    return true;
  }),
  { numRuns: Number(casesText), seed: Number(seedText) },
);
// Leave only once the parent has the last message: it judges a process that ends without one as crashed.
process.send!({ kind: 'end', peakRss: Math.max(peakRss, process.memoryUsage().rss) }, () => process.disconnect());
