import { EXIT, failure, type ExitCode } from '../../io/errors.js';
import { compileMasks, eachSearchResult, type SearchResult } from '../../restore/search.js';
import type { CatalogWant } from '../../store/catalog.js';
import { normalizeRestorePath } from '../../restore/select.js';
import { versionsOf } from '../../restore/state-at.js';
import { resolveWhenIn, type ToolContext } from './context.js';
import type { ToolOptions } from './options.js';
import { chunkedOutput, drained, entryJson, printJson, printJsonList, reportProblems, table, versionJson, versionRows } from './output.js';

/** search decodes only the entries and records of the paths its masks match. */
export function searchWant(_args: readonly string[], opts: ToolOptions): () => CatalogWant {
  const matches = compileMasks(opts.mask);
  return () => ({ current: matches, records: matches, recordsSpec: { masks: opts.mask } });
}

/** history decodes only its PATH. */
export function historyWant(args: readonly string[]): (src: string | undefined) => CatalogWant {
  return (src) => {
    const path = normalizeRestorePath(args[0] ?? '', src);
    const only = (p: string) => p === path;
    return { current: only, records: only };
  };
}

/** A search's version rows begin with an empty cell: the rows are indented under their path. */
const NO_LABEL = (): string => '';

export async function runSearch(ctx: ToolContext, _args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  const since = opts.since === undefined ? undefined : resolveWhenIn(ctx, opts.since, 'start');
  const until = opts.until === undefined ? undefined : resolveWhenIn(ctx, opts.until);
  // Each result is written as it is found, and dropped (eachSearchResult).
  const results = eachSearchResult(ctx.history, { masks: opts.mask, deleted: opts.deleted, since, until });
  const code = ctx.catalog.problems.length > 0 ? EXIT.failure : EXIT.ok;
  if (opts.json) {
    const body = { masks: opts.mask, deleted_only: opts.deleted, since: since ?? null, until: until ?? null };
    const json = (r: SearchResult) => ({
      path: r.path,
      type: (r.current ?? r.versions[0]?.entry)?.type ?? null,
      in_mirror: r.current !== undefined,
      current: r.current === undefined ? null : entryJson(r.current),
      versions: r.versions.map(versionJson),
    });
    await printJsonList(ctx, 'search', code, body, { key: 'results', items: results, json }, ctx.io.stdout);
    return code;
  }
  const out = chunkedOutput(ctx.io.stdout);
  let found = 0;
  for (const r of results) {
    found++;
    const rows = versionRows(r.versions, { sha: false, label: NO_LABEL });
    if (!out.write(`${r.path}${r.current === undefined ? '  (deleted: not in the mirror)' : ''}\n${table(rows, [4])}`)) await drained(ctx.io.stdout);
  }
  if (!out.write(`${found} path${found === 1 ? '' : 's'} found\n`)) await drained(ctx.io.stdout);
  if (!out.end()) await drained(ctx.io.stdout);
  reportProblems(ctx);
  return code;
}

export async function runHistory(ctx: ToolContext, args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  const path = normalizeRestorePath(args[0] ?? '', ctx.src);
  const versions = versionsOf(ctx.history, path);
  const code = ctx.catalog.problems.length > 0 ? EXIT.failure : EXIT.ok;
  if (versions.length === 0) {
    reportProblems(ctx);
    throw failure(`no version of ${path} in this backup`, { hint: 'paths are relative to the source folder; `backup-tool search --mask NAME` finds them' });
  }
  if (opts.json) {
    printJson(ctx, 'history', code, { path, in_mirror: ctx.history.current.has(path), versions: versions.map(versionJson) }, ctx.io.stdout);
    return code;
  }
  const out = ctx.io.stdout;
  out.write(`${path}${ctx.history.current.has(path) ? '' : '  (deleted: not in the mirror)'}\n`);
  out.write(table([['TIME', 'INCREMENT', 'STATUS', 'SIZE', 'MTIME', 'SHA256', 'CONTENT'], ...versionRows(versions, { sha: true })], [3]));
  reportProblems(ctx);
  return code;
}
