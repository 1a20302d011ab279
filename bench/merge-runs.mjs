#!/usr/bin/env node
// Merges the hyperfine JSON exports of one row's rounds (bench/run.sh times each run of a row as
// its own hyperfine call, in rounds with the scenario's other rows) into one export of the same
// shape, with every run's time, so report.mjs reads a row the same way whatever its rounds.
//
//   node bench/merge-runs.mjs <out.json> <round.json>...

import { readFileSync, writeFileSync } from 'node:fs';

const [out, ...inputs] = process.argv.slice(2);
if (!out || inputs.length === 0) {
  process.stderr.write('usage: merge-runs.mjs <out.json> <round.json>...\n');
  process.exit(2);
}

const rounds = inputs.map((p) => {
  const r = JSON.parse(readFileSync(p, 'utf8')).results?.[0];
  if (!r || !Array.isArray(r.times) || r.times.length === 0) throw new Error(`${p}: no timed run in it`);
  return r;
});
const times = rounds.flatMap((r) => r.times);
const n = times.length;
const sorted = [...times].sort((a, b) => a - b);
const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
const mean = times.reduce((a, b) => a + b, 0) / n;
const stddev = n < 2 ? null : Math.sqrt(times.reduce((a, t) => a + (t - mean) ** 2, 0) / (n - 1));
// hyperfine's user and system are means over a call's runs: weigh each call by its runs.
const perRun = (key) => rounds.reduce((a, r) => a + r[key] * r.times.length, 0) / n;

const merged = {
  command: rounds[0].command,
  mean,
  stddev,
  median,
  user: perRun('user'),
  system: perRun('system'),
  min: sorted[0],
  max: sorted[n - 1],
  times,
  exit_codes: rounds.flatMap((r) => r.exit_codes ?? []),
};
writeFileSync(out, `${JSON.stringify({ results: [merged] }, null, 2)}\n`);
