import { EXIT, type ExitCode } from '../../io/errors.js';
import type { IncrementJson, IncrementSummary } from '../../meta/increment.js';
import { timeOfId } from '../../store/ids.js';
import { humanBytes } from '../format.js';
import { reopenWhole, type ToolContext } from './context.js';
import type { CatalogWant } from '../../store/catalog.js';
import type { ToolOptions } from './options.js';
import { printJson, reportProblems, table, timeOf } from './output.js';

const num = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);

/**
 * list decodes no entry and no record: an increment's counts are its summary's (W3, a backup of
 * 1,040,000 entries in two increments: 1.6-1.9 GiB and 11 s when everything was decoded). Only an
 * increment whose summary does not hold every count needs its lists counted (runList reads the
 * backup again, whole, then).
 */
export function listWant(): () => CatalogWant {
  const none = (): boolean => false;
  return () => ({ current: none, records: none });
}

const recorded = (json: IncrementJson): Partial<Record<keyof IncrementSummary, unknown>> =>
  (typeof json.summary === 'object' && json.summary !== null ? json.summary : {}) as Partial<Record<keyof IncrementSummary, unknown>>;

/** Whether the summary holds every count the lists would give (errors are always read, bytes copied have no fallback). */
const summaryWhole = (json: IncrementJson): boolean => {
  const s = recorded(json);
  return (['new', 'changed', 'deleted'] as const).every((k) => typeof s[k] === 'number' && Number.isFinite(s[k]));
};

/** The summary as recorded, each count checked (metadata is untrusted), else counted from the lists. */
function summaryOf(json: IncrementJson): IncrementSummary {
  const s = recorded(json);
  return {
    new: num(s.new, json.new.length),
    changed: num(s.changed, json.changed.length),
    deleted: num(s.deleted, json.deleted.length),
    errors: num(s.errors, json.errors.length),
    bytes_copied: num(s.bytes_copied, 0),
  };
}

export async function runList(opened: ToolContext, _args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  // Read without records (listWant): an increment whose summary misses a count needs its lists.
  const ctx = opened.catalog.increments.every((inc) => inc.json === undefined || summaryWhole(inc.json)) ? opened : reopenWhole(opened);
  const code = ctx.catalog.problems.length > 0 ? EXIT.failure : EXIT.ok;
  if (opts.json) {
    const increments = ctx.catalog.increments.map((inc) => {
      const time = timeOfId(inc.id)?.toISOString() ?? null;
      if (inc.json === undefined) return { id: inc.id, time, readable: false, problem: inc.problem ?? 'unreadable' };
      return {
        id: inc.id,
        time,
        readable: true,
        started: typeof inc.json.started === 'string' ? inc.json.started : null,
        finished: typeof inc.json.finished === 'string' ? inc.json.finished : null,
        complete: inc.json.complete,
        pending: inc.pending === true,
        profile: typeof inc.json.profile === 'string' ? inc.json.profile : null,
        summary: summaryOf(inc.json),
      };
    });
    printJson(ctx, 'list', code, { increments }, ctx.io.stdout);
    return code;
  }
  const rows: string[][] = [['INCREMENT', 'TIME', 'NEW', 'CHANGED', 'DELETED', 'ERRORS', 'COPIED', '']];
  for (const inc of ctx.catalog.increments) {
    if (inc.json === undefined) {
      rows.push([inc.id, timeOf(inc.id), '', '', '', '', '', `unreadable: ${inc.problem ?? '?'}`]);
      continue;
    }
    const s = summaryOf(inc.json);
    const note = inc.pending === true ? 'in progress or interrupted' : inc.json.complete ? '' : 'incomplete (interrupted run)';
    rows.push([inc.id, timeOf(inc.id), String(s.new), String(s.changed), String(s.deleted), String(s.errors), humanBytes(s.bytes_copied), note]);
  }
  const out = ctx.io.stdout;
  if (ctx.catalog.increments.length === 0) out.write('no increments yet\n');
  else out.write(table(rows, [2, 3, 4, 5, 6]));
  const n = ctx.catalog.increments.length;
  out.write(`${n} increment${n === 1 ? '' : 's'}; backup ${ctx.dist}${ctx.src === undefined ? '' : `, source ${ctx.src}`}\n`);
  reportProblems(ctx);
  return code;
}
