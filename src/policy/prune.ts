import type { KeepPolicy } from '../config/profiles.js';

export interface Candidate {
  id: string;
  time: Date;
}

export interface Decision {
  id: string;
  keep: boolean;
  /** Why it is kept: `last`, `hourly 2026-11-25 14h`, `daily 2026-11-25`, `newest`…; empty when it goes. */
  reasons: string[];
}

const BUCKETS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
type Bucket = (typeof BUCKETS)[number];

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The bucket an increment falls in, in local time (a "day" is the user's day, as in restic). */
function bucketOf(kind: Bucket, d: Date): string {
  switch (kind) {
    case 'hourly':
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}h`;
    case 'daily':
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
    case 'weekly': {
      const [y, w] = isoWeek(d);
      return `${y}-W${pad(w)}`;
    }
    case 'monthly':
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
    case 'yearly':
      return `${d.getFullYear()}`;
  }
}

/** ISO 8601 week-numbering year and week of a local date. */
function isoWeek(d: Date): [number, number] {
  const t = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  return [t.getUTCFullYear(), Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7)];
}

export function isEmptyPolicy(p: KeepPolicy): boolean {
  return !['last', ...BUCKETS].some((k) => (p[k as keyof KeepPolicy] ?? 0) > 0);
}

/**
 * Retention as a pure function, with restic's semantics: walking from the newest, `last` keeps the N
 * newest; each of hourly/daily/weekly/monthly/yearly keeps the newest increment of each of the last N
 * hours/days/… that have increments. Policies combine (kept by any → kept). The newest increment is
 * always kept. `candidates` may come in any order; decisions come newest first.
 */
export function applyPolicy(candidates: readonly Candidate[], policy: KeepPolicy): Decision[] {
  const sorted = [...candidates].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1));
  const left: Record<Bucket | 'last', number> = {
    last: policy.last ?? 0,
    hourly: policy.hourly ?? 0,
    daily: policy.daily ?? 0,
    weekly: policy.weekly ?? 0,
    monthly: policy.monthly ?? 0,
    yearly: policy.yearly ?? 0,
  };
  const lastBucket: Partial<Record<Bucket, string>> = {};
  return sorted.map((c, i) => {
    const reasons: string[] = [];
    if (i === 0) reasons.push('newest');
    if (left.last > 0) {
      left.last--;
      reasons.push('last');
    }
    for (const kind of BUCKETS) {
      if (left[kind] <= 0) continue;
      const b = bucketOf(kind, c.time);
      if (lastBucket[kind] === b) continue;
      lastBucket[kind] = b;
      left[kind]--;
      reasons.push(`${kind} ${b}`);
    }
    return { id: c.id, keep: reasons.length > 0, reasons };
  });
}
