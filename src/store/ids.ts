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

export function withSuffix(base: string, n: number): string {
  return n <= 1 ? base : `${base}-${n}`;
}
