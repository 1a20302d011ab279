import { resolve } from 'node:path';
import { EXIT, failure, usageError, type ExitCode } from '../../io/errors.js';
import type { Entry } from '../../meta/entry.js';
import { normalizeRestorePath, pathsFilter, selectPaths, type PathChoice } from '../../restore/select.js';
import type { CatalogWant } from '../../store/catalog.js';
import { currentItems, latestId, stateAt, type Cutoff, type StateItem } from '../../restore/state-at.js';
import { executeWrite, planWrite, type WritePlan, type WriteReport } from '../../restore/write.js';
import { count, humanBytes } from '../format.js';
import { idWithTime, reopenWhole, resolveWhenIn, type ToolContext } from './context.js';
import type { ToolOptions } from './options.js';
import { printJson, reportProblems, table } from './output.js';
import { isSameOrInside } from '../../meta/safe-path.js';
import { resolvedPath } from '../../io/fs.js';

export interface RestoreRequest {
  command: 'restore' | 'recreate';
  items: StateItem[];
  parents?: ReadonlyMap<string, Entry>;
  /** The paths asked for (restore): one of them being unavailable is a failure. */
  requested?: readonly string[];
  choices?: readonly PathChoice[];
  /** The increment the state is taken at; undefined for the latest state. */
  at: string | undefined;
  to: string | undefined;
  force: boolean;
  dryRun: boolean;
  json: boolean;
}

export interface RestoreOutcome {
  code: ExitCode;
  plan: WritePlan;
  report: WriteReport | undefined;
}

/** restore decodes only its PATHs, what is below them and the folders above them. */
export function restoreWant(args: readonly string[]): (src: string | undefined) => CatalogWant {
  return (src) => {
    const only = pathsFilter(args.map((a) => normalizeRestorePath(a, src)));
    return { current: only, records: only };
  };
}

/**
 * The latest state is the current state itself (docs/tool.md): recreate without --at needs no
 * increment record when the manifest reads cleanly.
 */
export function recreateWant(_args: readonly string[], opts: ToolOptions): () => CatalogWant {
  return () => (opts.at === undefined ? { records: () => false, recordsSpec: 'none' } : {});
}

export async function runRestore(ctx: ToolContext, args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  const paths = args.map((a) => normalizeRestorePath(a, ctx.src));
  const at = opts.at === undefined ? undefined : resolveWhenIn(ctx, opts.at);
  const sel = selectPaths(ctx.history, paths, at === undefined ? undefined : { at });
  if (sel.notFound.length > 0) {
    reportProblems(ctx);
    const when = at === undefined ? 'in the latest state' : `at ${idWithTime(at)}`;
    const why = sel.notFound.map((n) => (n.known ? `${n.path} did not exist ${when}; ${n.hint}` : `${n.path}: ${n.hint}`));
    throw failure(`nothing was restored: ${why.join('\n  ')}`);
  }
  const out = await restoreItems(ctx, {
    command: 'restore',
    items: sel.items,
    parents: sel.parents,
    requested: paths,
    choices: sel.choices,
    at,
    to: opts.to,
    force: opts.force,
    dryRun: opts.dryRun,
    json: opts.json,
  });
  return out.code;
}

export async function runRecreate(opened: ToolContext, _args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  let ctx = opened;
  const at = opts.at === undefined ? undefined : resolveWhenIn(ctx, opts.at);
  let items: StateItem[];
  if (at === undefined && ctx.catalog.currentWhole) items = currentItems(ctx.catalog.current);
  else {
    // The latest state without a whole manifest: computed from the increments' records as well.
    if (at === undefined) ctx = reopenWhole(ctx);
    const cut: Cutoff = at === undefined ? 'latest' : { at };
    items = [...stateAt(ctx.history, cut).values()];
  }
  const out = await restoreItems(ctx, { command: 'recreate', items, at, to: opts.to, force: opts.force, dryRun: opts.dryRun, json: opts.json });
  return out.code;
}


/** Plans, reports conflicts, writes (unless they block or --dry-run), and prints the outcome. */
export async function restoreItems(ctx: ToolContext, req: RestoreRequest): Promise<RestoreOutcome> {
  const { io, catalog } = ctx;
  const target = req.to !== undefined ? resolve(io.cwd, req.to) : ctx.src;
  if (target === undefined) throw usageError('this backup does not record its source folder: say where to write with --to DIR');
  if (isSameOrInside(resolvedPath(io.fs, target), resolvedPath(io.fs, ctx.dist))) throw usageError(`${target} lies inside the backup ${ctx.dist}: restore somewhere else`);
  const rootStat = io.fs.statSync(target, { throwIfNoEntry: false });
  if (rootStat !== undefined && !rootStat.isDirectory()) throw usageError(`${target} is not a folder: restore into a folder`);
  const layout = catalog.layout;
  const locate = (item: StateItem): string => {
    const s = item.source;
    if (s.kind === 'increment') return s.path === 'files' ? layout.incrementFile(s.id, item.path) : layout.incrementDeleted(s.id, item.path);
    return layout.mirrorPath(item.path);
  };
  const planOpts = {
    root: target,
    items: req.items,
    force: req.force,
    protect: [ctx.dist],
    locate,
    parentVersion: (p: string) => req.parents?.get(p),
  };
  const plan = await planWrite(io.fs, planOpts);
  const report = plan.ok && !req.dryRun ? await executeWrite(io.fs, plan, planOpts, io.workerScript === undefined ? {} : { workerScript: io.workerScript }) : undefined;

  const notRecoverable = plan.unavailable.filter((u) => u.why === 'untracked');
  const unavailable = plan.unavailable.filter((u) => u.why === 'missing');
  const requested = new Set(req.requested ?? []);
  const requestedLost = plan.unavailable.filter((u) => requested.has(u.path));
  const failed =
    !plan.ok || unavailable.length > 0 || requestedLost.length > 0 || (report?.errors.length ?? 0) > 0 || catalog.problems.length > 0;
  const code: ExitCode = failed ? EXIT.failure : EXIT.ok;
  const atId = req.at ?? latestId(ctx.history);
  const toWrite = plan.writes.filter((w) => w.action !== 'identical');
  const bytesToWrite = toWrite.reduce((n, w) => n + (w.type === 'file' ? (w.item.entry?.size ?? 0) : 0), 0);

  if (req.json) {
    printJson(ctx, req.command, code, {
      at: atId ?? null,
      target,
      dry_run: req.dryRun,
      performed: report !== undefined,
      ...(req.choices === undefined
        ? {}
        : {
            paths: req.choices.map((c) => ({
              path: c.path,
              at: c.cut === 'latest' ? (atId ?? null) : 'at' in c.cut ? c.cut.at : null,
              before: c.cut !== 'latest' && 'before' in c.cut ? c.cut.before : null,
              deleted_in: c.deletedIn ?? null,
            })),
          }),
      writes: plan.writes.map((w) => ({ path: w.path, type: w.type, action: w.action })),
      conflicts: plan.conflicts.map((c) => ({ path: c.path, reason: c.reason, force_allows: !c.always })),
      not_recoverable: notRecoverable.map((u) => u.path),
      unavailable: unavailable.map((u) => ({ path: u.path, reason: u.reason })),
      errors: report?.errors ?? [],
      summary: {
        written: report?.written ?? (req.dryRun ? toWrite.length : 0),
        identical: report?.identical ?? (req.dryRun ? plan.writes.length - toWrite.length : 0),
        bytes: report?.bytes ?? (req.dryRun ? bytesToWrite : 0),
        conflicts: plan.conflicts.length,
        not_recoverable: notRecoverable.length,
        unavailable: unavailable.length,
        errors: report?.errors.length ?? 0,
      },
    }, io.stdout);
    return { code, plan, report };
  }

  const out = io.stdout;
  const err = io.stderr;
  const asOf = req.at === undefined ? `the latest state${atId === undefined ? '' : `, ${idWithTime(atId)}`}` : idWithTime(req.at);
  for (const c of req.choices ?? []) {
    if (c.deletedIn !== undefined) out.write(`${c.path}: deleted in ${idWithTime(c.deletedIn)}; restoring its last version\n`);
  }
  if (plan.conflicts.length > 0) {
    const blocking = plan.conflicts.filter((c) => c.always || !req.force);
    const head = plan.ok
      ? `replacing ${count(plan.conflicts.length, 'existing entries')} with other content (--force):`
      : `${count(blocking.length, blocking.length === 1 ? 'conflict' : 'conflicts')} in ${target}; nothing was written${
          blocking.some((c) => !c.always) ? ' (--force replaces files and symlinks with other content)' : ''
        }:`;
    err.write(`backup-tool: ${head}\n`);
    for (const c of plan.ok ? plan.conflicts : blocking) err.write(`  ${c.path}: ${c.reason}\n`);
  }
  if (req.dryRun) {
    const rows = plan.writes.map((w) => [w.action === 'identical' ? 'identical' : `would ${w.action}`, w.type, w.path]);
    if (rows.length > 0) out.write(table(rows));
  }
  if (notRecoverable.length > 0) {
    err.write(`backup-tool: not recoverable as of ${asOf} (untracked files keep only their current version):\n`);
    for (const u of notRecoverable) err.write(`  ${u.path}\n`);
  }
  if (unavailable.length > 0) {
    err.write(`backup-tool: unavailable (recorded only in increments that are gone or unreadable):\n`);
    for (const u of unavailable) err.write(`  ${u.path}: ${u.reason}\n`);
  }
  for (const e of report?.errors ?? []) err.write(`backup-tool: error: ${e.message}\n`);
  if (req.dryRun) {
    out.write(`dry run: would write ${count(toWrite.length, toWrite.length === 1 ? 'entry' : 'entries')} (${humanBytes(bytesToWrite)}) as of ${asOf} into ${target}; ${plan.writes.length - toWrite.length} already identical\n`);
  } else if (report !== undefined) {
    out.write(
      `${req.command === 'restore' ? 'restored' : 'recreated'} ${count(report.written, report.written === 1 ? 'entry' : 'entries')} (${humanBytes(report.bytes)}) as of ${asOf} into ${target}; ${report.identical} already identical\n`,
    );
  }
  if (requestedLost.length > 0) err.write(`backup-tool: could not restore: ${requestedLost.map((u) => u.path).join(', ')}\n`);
  reportProblems(ctx);
  return { code, plan, report };
}
