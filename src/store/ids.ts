/** Increment ids: the UTC start time of the run, `YYYY-MM-DDTHHMMSSZ`, plus `-N` when taken. */

const ID_RE = /^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?$/;

export function baseIdFor(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '');
}

export function isIncrementId(name: string): boolean {
  return ID_RE.test(name);
}

/** Start time of an id (the suffix does not change it). */
export function timeOfId(id: string): Date | undefined {
  const m = ID_RE.exec(id);
  if (!m || m[1] === undefined) return undefined;
  const s = m[1];
  const iso = `${s.slice(0, 13)}:${s.slice(13, 15)}:${s.slice(15, 17)}Z`;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Order: start time, then suffix number (`…Z` < `…Z-2` < `…Z-10`), never plain text. */
export function compareIds(a: string, b: string): number {
  const ma = ID_RE.exec(a);
  const mb = ID_RE.exec(b);
  if (!ma || !mb) return a < b ? -1 : a > b ? 1 : 0;
  if (ma[1] !== mb[1]) return (ma[1] ?? '') < (mb[1] ?? '') ? -1 : 1;
  return Number(ma[2] ?? 1) - Number(mb[2] ?? 1);
}

/**
 * The id for a run that started at `started`, sorting after every id in `existing`: increments are
 * ordered by id, so a clock that went back (NTP, a dead CMOS battery, another machine's clock on a
 * shared stick) must not slip a newer run before older ones. Then the run takes the last id's second
 * with the next suffix; increment.json's "started" keeps the true time.
 */
export function nextIncrementId(started: Date, existing: readonly string[]): string {
  const base = baseIdFor(started);
  const last = existing.filter(isIncrementId).sort(compareIds).at(-1);
  if (last === undefined || compareIds(base, last) > 0) return base;
  const m = ID_RE.exec(last);
  return withSuffix(m?.[1] ?? base, Number(m?.[2] ?? 1) + 1);
}

export function withSuffix(base: string, n: number): string {
  return n <= 1 ? base : `${base}-${n}`;
}
