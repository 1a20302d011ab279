import type { KeepPolicy } from '../config/profiles.js';
import { EXIT, type ExitCode } from '../io/errors.js';
import { runPrune, type PruneOutcome } from '../apply/prune.js';
import { diskUsage, type DuReport } from '../store/du.js';
import { realFs } from '../io/fs.js';
import { timeOfId } from '../store/ids.js';
import { humanBytes, localTime } from './format.js';

/** The --keep-* options of `backup-tool prune`, as util.parseArgs options. */
export const PRUNE_OPTIONS = {
  'keep-last': { type: 'string' },
  'keep-hourly': { type: 'string' },
  'keep-daily': { type: 'string' },
  'keep-weekly': { type: 'string' },
  'keep-monthly': { type: 'string' },
  'keep-yearly': { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

export const PRUNE_HELP = `Usage: backup-tool [WHERE] prune [--keep-last N] [--keep-hourly N] [--keep-daily N]
                              [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--dry-run] [--json]

Drops the increments outside the retention policy. Without --keep-* options, the config's "keep" is
used. For each of the last N hours/days/weeks/months/years that have increments, the newest one is kept;
--keep-last keeps the N newest; policies combine; the newest increment is always kept. The versions
that kept increments still need are carried into the oldest kept increment that needs them, so
\`recreate --at\` gives the same tree for every kept increment before and after. --dry-run lists what
would go and why each kept increment is kept.`;

export const DU_HELP = `Usage: backup-tool [WHERE] du [--json]

Per increment: its files, their apparent size, and the bytes only it holds (what pruning it would
free); the mirror; the whole backup's real usage (each hard-linked file counted once) against the
size of the source selection.`;

/** --keep-* flags override the config's policy as a whole (the same rule as profile keys). */
export function policyFrom(values: Record<string, unknown>, fallback: KeepPolicy | undefined): KeepPolicy | undefined {
  const policy: KeepPolicy = {};
  let any = false;
  for (const k of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const v = values[`keep-${k}`];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`--keep-${k} takes a whole number ≥ 0 (got ${String(v)})`);
    policy[k] = n;
    any = true;
  }
  return any ? policy : fallback;
}

export async function pruneCommand(dist: string, policy: KeepPolicy | undefined, dryRun: boolean, json: boolean): Promise<ExitCode> {
  const outcome = await runPrune({ dist, policy, dryRun, notice: (m) => process.stderr.write(`backup-tool: ${m}\n`) });
  if (json) process.stdout.write(`${JSON.stringify(pruneJson(outcome), null, 2)}\n`);
  else printPrune(outcome);
  return EXIT.ok;
}

function pruneJson(o: PruneOutcome) {
  return {
    dry_run: o.dryRun,
    increments: o.decisions.map((d) => ({ id: d.id, keep: d.keep, reasons: d.reasons })),
    removed: o.removed,
    carried: o.groups.map((g) => ({ into: g.into, from: g.pruned, records: g.carried.length, files: g.moves.length })),
  };
}

function printPrune(o: PruneOutcome): void {
  const out = process.stdout;
  for (const d of [...o.decisions].reverse()) {
    const t = timeOfId(d.id);
    out.write(`${d.keep ? 'keep  ' : (o.dryRun ? 'would remove' : 'remove').padEnd(6)}  ${d.id}  ${t ? localTime(t) : ''}${d.keep ? `  (${d.reasons.join(', ')})` : ''}\n`);
  }
  for (const g of o.groups) {
    out.write(`${o.dryRun ? 'would carry' : 'carried'} ${g.carried.length} records (${g.moves.length} stored versions) from ${g.pruned.join(', ')} into ${g.into}\n`);
  }
  const gone = o.decisions.filter((d) => !d.keep).length;
  out.write(o.dryRun ? `dry run: ${gone} of ${o.decisions.length} increments would be removed\n` : `removed ${o.removed.length} of ${o.decisions.length} increments\n`);
}

export function duCommand(dist: string, json: boolean): ExitCode {
  const r = diskUsage(realFs, dist);
  if (json) process.stdout.write(`${JSON.stringify(duJson(r), null, 2)}\n`);
  else printDu(r);
  return EXIT.ok;
}

function duJson(r: DuReport) {
  return {
    increments: r.increments.map((i) => ({ id: i.id, files: i.files, bytes: i.bytes, unique_bytes: i.unique, metadata_bytes: i.metadata })),
    mirror: { files: r.mirror.files, bytes: r.mirror.bytes, unique_bytes: r.mirror.unique },
    backup: { inodes: r.onDisk.files, bytes_on_disk: r.onDisk.bytes, apparent_bytes: r.apparent, saved_by_links: r.apparent - r.onDisk.bytes },
    source: r.source,
  };
}

function printDu(r: DuReport): void {
  const out = process.stdout;
  const rows: string[][] = [['increment', 'files', 'size', 'only here']];
  for (const i of r.increments) rows.push([i.id, String(i.files), humanBytes(i.bytes), humanBytes(i.unique)]);
  rows.push(['mirror', String(r.mirror.files), humanBytes(r.mirror.bytes), humanBytes(r.mirror.unique)]);
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? [];
  for (const row of rows) out.write(`${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')}\n`);
  out.write(
    `\nbackup on disk: ${humanBytes(r.onDisk.bytes)} in ${r.onDisk.files} files (${humanBytes(r.apparent)} if every link were a copy; hard links save ${humanBytes(r.apparent - r.onDisk.bytes)})\n` +
      `source selection: ${humanBytes(r.source.bytes)} in ${r.source.files} files\n`,
  );
}
