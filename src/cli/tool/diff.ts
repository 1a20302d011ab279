import { EXIT, type ExitCode } from '../../io/errors.js';
import { diffStates } from '../../restore/diff.js';
import { latestId, stateAt, type Cutoff } from '../../restore/state-at.js';
import { idWithTime, resolveWhenIn, type ToolContext } from './context.js';
import type { ToolOptions } from './options.js';
import { printJson, reportProblems, table } from './output.js';

export async function runDiff(ctx: ToolContext, args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  const from = resolveWhenIn(ctx, args[0] ?? '');
  const to = args[1] === undefined ? undefined : resolveWhenIn(ctx, args[1]);
  const toCut: Cutoff = to === undefined ? 'latest' : { at: to };
  const d = diffStates(stateAt(ctx.history, { at: from }), stateAt(ctx.history, toCut));
  const code = ctx.catalog.problems.length > 0 ? EXIT.failure : EXIT.ok;
  const toId = to ?? latestId(ctx.history);
  if (opts.json) {
    printJson(ctx, 'diff', code, {
      from,
      to: toId ?? null,
      added: d.added.map((i) => ({ path: i.path, type: i.type })),
      changed: d.changed.map((c) => ({ path: c.to.path, type: c.to.type, reasons: c.reasons })),
      deleted: d.deleted.map((i) => ({ path: i.path, type: i.type })),
      unknown: d.unknown,
    }, ctx.io.stdout);
    return code;
  }
  const rows: string[][] = [
    ...d.added.map((i) => ['+', 'added', i.path, '']),
    ...d.changed.map((c) => ['~', 'changed', c.to.path, `(${c.reasons.join(', ')})`]),
    ...d.deleted.map((i) => ['-', 'deleted', i.path, '']),
    ...d.unknown.map((p) => ['?', 'unknown', p, '(a version here is not known)']),
  ].sort((a, b) => ((a[2] ?? '') < (b[2] ?? '') ? -1 : (a[2] ?? '') > (b[2] ?? '') ? 1 : 0));
  const out = ctx.io.stdout;
  if (rows.length > 0) out.write(table(rows));
  out.write(
    `${d.added.length} added, ${d.changed.length} changed, ${d.deleted.length} deleted${d.unknown.length > 0 ? `, ${d.unknown.length} unknown` : ''} from ${idWithTime(from)} to ${
      to === undefined ? `the latest state${toId === undefined ? '' : ` (${toId})`}` : idWithTime(to)
    }\n`,
  );
  reportProblems(ctx);
  return code;
}
