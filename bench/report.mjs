#!/usr/bin/env node
// Prints the benchmark table from a results folder written by bench/run.sh, and writes the same
// table as Markdown to <dir>/results.md.
//
//   node bench/report.mjs <results dir>

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: report.mjs <results dir>\n');
  process.exit(2);
}

const WHERE = {
  shm: '/dev/shm (tmpfs)',
  ext4: 'ext4 loop image (journaled)',
  search: 'search: backup-tool search over a many-increment backup (cached on /dev/shm, tmpfs)',
};
const SCENARIOS = ['initial', 'no-change', '1% change', 'moved folder', 'recreate', 'search'];
const isHb = (label) => label.startsWith('hardback');
const RANK = (label) =>
  isHb(label) ? 0 : label.startsWith('rsync') || label.startsWith('durable rsync') ? 1 : label.startsWith('rsnapshot') ? 2 : label.startsWith('cp') || label.startsWith('durable cp') ? 3 : 4;
/** The targets of issue #5 for the optional rows. */
const SEARCH_TARGET_S = 1;
const RECREATE_TARGET = 1.2;

const readJson = (p) => (existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : undefined);
const readLines = (p) => (existsSync(p) ? readFileSync(p, 'utf8').split('\n').filter(Boolean) : []);
const env = existsSync(join(dir, 'env.txt')) ? readFileSync(join(dir, 'env.txt'), 'utf8') : '';
const envOf = (key) => (env.match(new RegExp(`^${key}: (.*)$`, 'm')) ?? [])[1] ?? '?';

const rows = readFileSync(join(dir, 'rows.tsv'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const [where, scenario, label, id, json, timeFile, status] = line.split('\t');
    const r = { where, scenario, label, id, status };
    const h = status === 'ok' ? readJson(json)?.results?.[0] : undefined;
    if (h) Object.assign(r, { median: h.median, min: h.min, max: h.max, cpu: h.user + h.system, n: h.times.length, times: h.times });
    if (existsSync(timeFile)) {
      const kb = [...readFileSync(timeFile, 'utf8').matchAll(/Maximum resident set size \(kbytes\): (\d+)/g)].map((m) => Number(m[1]));
      if (kb.length > 0) r.rssMiB = Math.max(...kb) / 1024;
    }
    return r;
  });

const secs = (x) => (x === undefined ? '' : `${x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0)} s`);
const mib = (x) => (x === undefined ? '' : `${x.toFixed(0)} MiB`);
const MiB = 1048576;
const size = (b) => (b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

const text = [];
const md = [];
text.push(`hardback benchmark, ${envOf('date')}, git ${envOf('git')}`);
text.push(`node ${envOf('node')}, ${envOf('rsync')}, ${envOf('hyperfine')}, ${envOf('cpu')}, ${envOf('mem')}`);
text.push(`workload: ${envOf('workload')}`);
if (envOf('rows') !== '?') text.push(`rows: ${envOf('rows')}`);
if (envOf('build') !== '?') text.push(`build: ${envOf('build')}`);
if (envOf('NODE_EXTRA_CA_CERTS') !== '?') text.push(`NODE_EXTRA_CA_CERTS: ${envOf('NODE_EXTRA_CA_CERTS')}`);
if (envOf('node start') !== '?') text.push(`node start: ${envOf('node start')}`);
md.push(...text.map((l) => `${l}  `));

for (const where of [...new Set(rows.map((r) => r.where))]) {
  const gen = readJson(join(dir, where, 'gen.json'));
  const mut = readJson(join(dir, where, 'mutate.json'));
  const mv = readJson(join(dir, where, 'move.json'));
  const here = rows
    .filter((r) => r.where === where)
    .sort((a, b) => SCENARIOS.indexOf(a.scenario) - SCENARIOS.indexOf(b.scenario) || RANK(a.label) - RANK(b.label));
  // the reference hardback row of a scenario is its first one (search: --mask '*.md', as the anchor)
  const hb = {};
  for (const r of here) if (isHb(r.label) && r.median !== undefined && !(r.scenario in hb)) hb[r.scenario] = r.median;
  const runs = Math.max(0, ...here.map((r) => r.n ?? 0));

  const title = `${WHERE[where] ?? where}: median wall time of ${runs} run${runs === 1 ? '' : 's'}`;
  const info = [];
  if (gen) info.push(`tree: ${gen.files} files, ${gen.dirs} folders, ${gen.mib} MiB (largest file ${size(gen.largest_file)})`);
  if (mut) info.push(`1% change: ${mut.modified} modified, ${mut.deleted} deleted, ${mut.added} added, ${size(mut.bytes_written)} new`);
  if (mv) info.push(`moved folder: "${mv.from}" (${mv.files} files, ${size(mv.bytes)})`);
  const bk = readJson(join(dir, where, 'backup.json'));
  if (bk) info.push(`backup: ${bk.increments} increments, ${bk.stored_versions} file versions stored in them`);
  for (const l of readLines(join(dir, where, 'matches.jsonl'))) {
    const m = JSON.parse(l);
    info.push(`--mask '${m.mask}' finds ${m.paths} paths, ${m.versions} versions`);
  }
  for (const l of readLines(join(dir, where, 'built.txt'))) info.push(`backup ${l}`);
  if (existsSync(join(dir, where, 'recreate-diff.txt'))) {
    const d = readFileSync(join(dir, where, 'recreate-diff.txt'), 'utf8').trim();
    info.push(`recreate: the recreated tree is ${d === 'identical' ? 'identical to the source (diff -r)' : 'NOT identical to the source, see recreate-diff.txt'}`);
  }

  const head = ['scenario', 'row', 'median', 'min', 'max', 'user+sys', 'hardback / row', 'peak RSS'];
  const body = here.map((r) => [
    r.scenario,
    r.label,
    r.status === 'ok' ? secs(r.median) : r.status,
    secs(r.min),
    secs(r.max),
    secs(r.cpu),
    !isHb(r.label) && hb[r.scenario] !== undefined && r.median ? `${(hb[r.scenario] / r.median).toFixed(2)}×` : '',
    mib(r.rssMiB),
  ]);
  const right = new Set([2, 3, 4, 5, 6, 7]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells) => cells.map((c, i) => (right.has(i) ? c.padStart(width[i]) : c.padEnd(width[i]))).join('  ').trimEnd();

  text.push('', title, ...info.map((l) => `  ${l}`), '', fmt(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt));
  md.push('', `### ${title}`, '', ...info.map((l) => `- ${l}`), '');
  md.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (right.has(i) ? '---:' : '---')).join('|')}|`);
  for (const b of body) md.push(`| ${b.join(' | ')} |`);

  // targets of issue #5
  const targets = [];
  const find = (scenario, prefix) => here.find((x) => x.scenario === scenario && x.label.startsWith(prefix));
  const med = (scenario, prefix) => find(scenario, prefix)?.median;
  const median = (xs) => {
    const v = [...xs].sort((x, y) => x - y);
    return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  };
  // run.sh times the rows of a scenario in rounds (env.txt "timing: rounds"; results of older runs
  // timed each row in one block): run k of one row was made beside run k of another.
  const perRound = (a, b) =>
    envOf('timing') === 'rounds' && a?.times && b?.times && a.times.length === b.times.length && a.times.length > 1
      ? median(a.times.map((t, i) => t / b.times[i]))
      : undefined;
  // Without a limit, the ratio is a reference, not a target.
  const against = (what, a, b, limit, rounds) => {
    if (a === undefined || b === undefined) return;
    const ratio = a / b;
    const r = rounds === undefined ? '' : ` (round by round: median ${rounds.toFixed(2)}×)`;
    const verdict = limit === undefined ? ' (a reference, not a target)' : `, target ≤ ${limit}×: ${ratio <= limit ? 'met' : 'not met'}`;
    targets.push(`${what}: ${ratio.toFixed(2)}×${r}${verdict}`);
  };
  const pair = (what, scenario, prefix, limit) =>
    against(what, hb[scenario], med(scenario, prefix), limit, perRound(find(scenario, 'hardback'), find(scenario, prefix)));
  pair('no-change / rsync -a', 'no-change', 'rsync', 0.8);
  pair('no-change / Node walk floor', 'no-change', 'floor: node readdir+lstat', 1.3);
  // Not a target: the same walk reading each lstat from Node's fs binding, as hardback's scan does.
  pair('no-change / Node walk floor, binding lstat', 'no-change', 'floor: node readdir + binding');
  pair('no-change / rsync --link-dest', 'no-change', 'rsnapshot', 0.1);
  pair('1% change / rsync -a', '1% change', 'rsync', 1.0);
  pair('1% change / rsync --link-dest', '1% change', 'rsnapshot', 0.15);
  // The first run after a whole write of the manifest reads it in full and leaves its index (a reference).
  const noIndex = find('1% change', 'hardback, no index yet');
  if (noIndex?.median !== undefined) against('1% change, no index yet / rsync -a', noIndex.median, med('1% change', 'rsync'), undefined, perRound(noIndex, find('1% change', 'rsync')));
  pair('initial / rsync -a', 'initial', 'rsync', 1.0);
  // Not targets: rsync made as durable as a hardback run (its data flushed before it ends), which
  // shows how much of a ratio above is the flush SPEC §6 asks for.
  for (const scenario of ['initial', '1% change']) pair(`${scenario} / durable rsync (rsync -a --delete && sync -f)`, scenario, 'durable rsync');
  // Nor the Node floors of a first run (bench/copy-floor.mjs): what the same work costs in Node
  // without hardback's bookkeeping, step by step.
  pair('initial / floor: node copy+sha256, 2 threads', 'initial', 'floor: node copy+sha256, 2');
  pair('initial / floor: node copy+sha256, durable, increment 1 linked', 'initial', 'floor: node copy+sha256, durable');
  pair('initial / floor: the same, through temp names', 'initial', 'floor: the same');
  pair("initial / floor: also the records of each file", 'initial', 'floor: also');
  const cpMoved = med('moved folder', 'cp -a of the moved folder');
  if (hb['moved folder'] !== undefined && hb['no-change'] !== undefined && cpMoved !== undefined) {
    // The run also scans the whole tree; what the move itself costs is the time over a no-change run.
    against('moved folder, its own cost (moved run − no-change run) / cp -a of the folder', hb['moved folder'] - hb['no-change'], cpMoved, 0.1);
    against('moved folder, whole run / cp -a of the folder', hb['moved folder'], cpMoved, 0.1);
  }
  const hbRss = here.filter((x) => isHb(x.label) && x.rssMiB !== undefined && ['initial', 'no-change', '1% change', 'moved folder'].includes(x.scenario));
  if (hbRss.length > 0) {
    const worst = hbRss.reduce((a, b) => (b.rssMiB > a.rssMiB ? b : a));
    targets.push(`peak RSS: ${hbRss.map((x) => `${x.scenario} ${mib(x.rssMiB)}`).join(', ')}; target ≤ 150 MiB at W1: ${worst.rssMiB <= 150 ? 'met' : 'not met'}`);
  }
  for (const r of here.filter((x) => x.scenario === 'search' && isHb(x.label))) {
    const t = r.median === undefined ? r.status : `${secs(r.median)} (${(r.median / SEARCH_TARGET_S).toFixed(2)}× the target)`;
    targets.push(`search ${r.label.replace(/^hardback /, '')}: ${t}, target < ${SEARCH_TARGET_S} s: ${r.median !== undefined && r.median < SEARCH_TARGET_S ? 'met' : 'not met'}`);
  }
  const rcHb = here.find((x) => x.scenario === 'recreate' && isHb(x.label));
  const rcCp = here.find((x) => x.scenario === 'recreate' && x.label.startsWith('cp'));
  if (rcHb && rcCp) {
    const ratio = rcHb.median !== undefined && rcCp.median ? rcHb.median / rcCp.median : undefined;
    const rounds = ratio === undefined ? undefined : perRound(rcHb, rcCp);
    const r = rounds === undefined ? '' : ` (round by round: median ${rounds.toFixed(2)}×)`;
    targets.push(`recreate / cp -a: ${ratio === undefined ? 'FAILED' : `${ratio.toFixed(2)}×${r}`}, target ≤ ${RECREATE_TARGET}×: ${ratio !== undefined && ratio <= RECREATE_TARGET ? 'met' : 'not met'}`);
  }
  // Not a target: a restore flushes what it wrote before it renames it into place; cp -a does not.
  pair('recreate / durable cp -a (cp -a && sync -f)', 'recreate', 'durable cp');
  // Nor the Node floor of a recreate: a restore checks each stored version's sha256 as it copies
  // it (docs/tool.md), so the least it can cost is a copy that hashes every byte; that floor over
  // cp -a says whether the target is within reach of any restore that checks what it restores.
  pair('recreate / floor: node copy+sha256 of the mirror, durable', 'recreate', 'floor: node copy+sha256 of the mirror');
  const rcFloor = find('recreate', 'floor: node copy+sha256 of the mirror');
  against('recreate: the floor itself / cp -a', rcFloor?.median, rcCp?.median, undefined, perRound(rcFloor, rcCp));
  if (targets.length > 0) {
    text.push('', 'targets (issue #5):', ...targets.map((l) => `  ${l}`));
    md.push('', 'Targets (issue #5):', '', ...targets.map((l) => `- ${l}`));
  }
}

text.push('', 'hardback / row: how many times longer hardback took than that row in the same scenario (under 1: faster).');
text.push('Floors under no-change: the least a scan of the tree can cost; under initial: the least a Node copy of it can cost (bench/copy-floor.mjs); under recreate: the least a Node copy that hashes every byte can cost. Peak RSS: GNU time "Maximum resident set size", largest over runs (for rsync, its largest process).');
md.push('', 'hardback / row: how many times longer hardback took than that row in the same scenario (under 1: faster). Floors under no-change: the least a scan of the tree can cost; under initial: the least a Node copy of it can cost (bench/copy-floor.mjs); under recreate: the least a Node copy that hashes every byte can cost. Peak RSS: GNU time "Maximum resident set size", largest over runs (for rsync, its largest process).');

writeFileSync(join(dir, 'results.md'), `${md.join('\n')}\n`);
process.stdout.write(`${text.join('\n')}\n`);
