#!/usr/bin/env node
// The recovery of an interrupted run, alone: a copy of JOURNAL (a .hardback/journal.jsonl left by a
// run killed with kill -9) in a fresh destination under WORKDIR, finished by recoverInterruptedRun
// as the next start would (src/apply/recover.ts). Its puts count as placed (their temp files are
// not there), its new folders as not made (the mirror is empty): the journal is read, judged,
// applied and written into increment.json and the manifest as after a real crash. Time it with GNU
// time for its peak memory. It loads the modules `npx tsc -p tsconfig.test.json` compiles.
//
//   /usr/bin/time -f "%e s %M KB" node bench/recovery.mjs JOURNAL WORKDIR
//
// Prints recovery's report and its time. WORKDIR/dist is removed first, and left for inspection.

import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [journal, work] = process.argv.slice(2);
if (journal === undefined || work === undefined) {
  process.stderr.write('usage: recovery.mjs JOURNAL WORKDIR\n');
  process.exit(2);
}
const built = new URL('../.test-build/src/', import.meta.url);
const { realFs } = await import(new URL('io/fs.js', built).href);
const { Layout } = await import(new URL('store/layout.js', built).href);
const { recoverInterruptedRun } = await import(new URL('apply/recover.js', built).href);
const { durabilityOnce } = await import(new URL('io/durability.js', built).href);

const dist = join(work, 'dist');
rmSync(dist, { recursive: true, force: true });
const layout = new Layout(dist);
for (const d of [layout.tmp, layout.mirror, layout.increments]) mkdirSync(d, { recursive: true });
copyFileSync(journal, layout.journal);
const t0 = performance.now();
const report = recoverInterruptedRun(realFs, layout, durabilityOnce(dist, true));
console.log(JSON.stringify({ ...report, ms: Math.round(performance.now() - t0) }));
