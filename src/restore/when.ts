import { usageError } from '../io/errors.js';
import { compareIds, timeOfId } from '../store/ids.js';

/**
 * WHEN, as `--at`, `--since`, `--until` and `diff` take it (docs/tool.md):
 * 1. an exact increment id;
 * 2. `latest`: the last increment;
 * 3. an ISO date or date-time: the last increment that started at or before it. Without a zone it
 *    is local time; a date alone means the end of that day, a time without seconds the end of that
 *    minute, a time with whole seconds the end of that second (for `--since`: the first increment
 *    at or after the start of that day, minute or second);
 * 4. a unique prefix of an id (`2026-11-25T16` or `2026-11-25T1638`).
 * Anything else, or a prefix shared by several ids, is a usage error that lists the candidates.
 */

const DATE_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * The span a date or date-time WHEN covers (a day, a minute, a second, or an instant for fractional
 * seconds), or undefined when it is not one. Without a zone, local time.
 */
export function parseWhenSpan(when: string): { start: Date; end: Date } | undefined {
  const m = DATE_TIME_RE.exec(when.trim());
  if (m === null) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return undefined;
  // [h, mi, s, ms] at the start and at the end of the span
  let lo = [0, 0, 0, 0];
  let hi = [23, 59, 59, 999];
  if (m[4] !== undefined) {
    const h = Number(m[4]);
    const mi = Number(m[5]);
    if (h > 23 || mi > 59) return undefined;
    lo = [h, mi, 0, 0];
    hi = [h, mi, 59, 999];
    if (m[6] !== undefined) {
      const sec = Number(m[6]);
      if (sec > 59) return undefined;
      lo = [h, mi, sec, 0];
      hi = [h, mi, sec, 999];
      if (m[7] !== undefined) {
        const ms = Number(m[7].slice(0, 3).padEnd(3, '0'));
        lo = [h, mi, sec, ms];
        hi = lo;
      }
    }
  }
  const zone = m[8];
  const at = (t: number[]): Date | undefined => {
    const [h, mi, sec, ms] = t as [number, number, number, number];
    if (zone === undefined) {
      const local = new Date(y, mo - 1, d, h, mi, sec, ms);
      return local.getDate() === d ? local : undefined; // 2026-02-31
    }
    const utc = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
    if (new Date(utc).getUTCDate() !== d) return undefined;
    let offsetMin = 0;
    if (zone.toUpperCase() !== 'Z') {
      const digits = zone.replace(':', '');
      offsetMin = (zone.startsWith('-') ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
    }
    return new Date(utc - offsetMin * 60_000);
  };
  const start = at(lo);
  const end = at(hi);
  return start === undefined || end === undefined ? undefined : { start, end };
}

/** The instant a date or date-time WHEN stands for (the end of its span), or undefined. */
export function parseWhenTime(when: string): Date | undefined {
  return parseWhenSpan(when)?.end;
}

export interface WhenOptions {
  /** Increment ids that exist but cannot be read, with the reason: naming one is an error that says why. */
  unreadable?: ReadonlyMap<string, string>;
  /** Formats an instant for messages (the CLI passes local time). */
  formatTime?: (d: Date) => string;
  /**
   * 'end' (default): a date or date-time names the last increment at or before the end of its span;
   * 'start' (`--since`): the first increment at or after its start.
   */
  bound?: 'start' | 'end';
}

/** The increment id WHEN names among `ids` (readable increments, any order). Throws a usage error otherwise. */
export function resolveWhen(when: string, ids: readonly string[], opts: WhenOptions = {}): string {
  const sorted = [...ids].sort(compareIds);
  const fmt = opts.formatTime ?? ((d: Date) => d.toISOString());
  const show = (list: readonly string[]) => {
    const head = list.slice(0, 10).join(', ');
    return list.length > 10 ? `${head}, … (${list.length} in all; run \`backup-tool list\`)` : head;
  };
  if (sorted.includes(when)) return when;
  const bad = opts.unreadable?.get(when);
  if (bad !== undefined) throw usageError(`increment ${when} cannot be read (${bad})`, 'name another increment: `backup-tool list` shows them');
  if (sorted.length === 0) throw usageError(`no increment to match ${JSON.stringify(when)}: this backup holds no readable increment`);
  if (when === 'latest') return sorted[sorted.length - 1] as string;

  const span = parseWhenSpan(when);
  if (span !== undefined && opts.bound === 'start') {
    const found = sorted.find((id) => (timeOfId(id)?.getTime() ?? -Infinity) >= span.start.getTime());
    if (found !== undefined) return found;
    const last = sorted[sorted.length - 1] as string;
    const lastTime = timeOfId(last);
    throw usageError(`no increment at or after ${fmt(span.start)}: the last one is ${last}${lastTime === undefined ? '' : ` (${fmt(lastTime)})`}`);
  }
  if (span !== undefined) {
    let found: string | undefined;
    for (const id of sorted) {
      const t = timeOfId(id);
      if (t !== undefined && t.getTime() <= span.end.getTime()) found = id;
    }
    if (found !== undefined) return found;
    const first = sorted[0] as string;
    const firstTime = timeOfId(first);
    throw usageError(
      `no increment at or before ${fmt(span.end)}: the first one is ${first}${firstTime === undefined ? '' : ` (${fmt(firstTime)})`}`,
    );
  }

  const matches = sorted.filter((id) => id.startsWith(when));
  if (matches.length === 1) return matches[0] as string;
  if (matches.length > 1) {
    throw usageError(`${JSON.stringify(when)} matches ${matches.length} increments: ${show(matches)}`, 'give more of the id, or the whole id');
  }
  throw usageError(
    `no increment matches ${JSON.stringify(when)}; increments: ${show(sorted)}`,
    'WHEN is an increment id, a unique prefix of one, `latest`, or an ISO date or date-time (2026-11-25, 2026-11-25T16:38)',
  );
}
