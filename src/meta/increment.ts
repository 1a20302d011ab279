import type { EntryRecord } from './entry.js';
import { isSafeRelPath } from './safe-path.js';

/** increment.json (SPEC §2, docs/format.md). */
export const INCREMENT_FORMAT = 1;

export interface IncrementError {
  path: string;
  op: string;
  code: string;
  message: string;
}

export interface IncrementSummary {
  new: number;
  changed: number;
  deleted: number;
  errors: number;
  bytes_copied: number;
}

export interface IncrementJson {
  format: number;
  id: string;
  profile: string;
  source: string;
  started: string;
  finished: string | null;
  complete: boolean;
  link_mode: 'hardlink' | 'copy';
  hardback_version: string;
  /** Id of the increment before this one when the run started (null for the first). */
  previous: string | null;
  /** Set by a later run that finalised this one after an interruption. */
  interrupted?: { recovered_at: string };
  summary: IncrementSummary;
  new: EntryRecord[];
  changed: EntryRecord[];
  deleted: EntryRecord[];
  errors: IncrementError[];
  skipped?: { path: string; kind: string }[];
  /**
   * Added by prune (docs/retention.md): the net effect of the pruned increments just before this one,
   * one record per path, replayed before this increment's own lists. A carried tracked file version
   * (status new/changed) has its content at this increment's files/<path>.
   */
  carried?: CarriedRecord[];
  /** Ids of the increments whose records were carried into this one. */
  pruned?: string[];
}

export interface CarriedRecord extends EntryRecord {
  status: 'new' | 'changed' | 'deleted';
  /** The increment that originally recorded this version. */
  from: string;
}

export type ParseResult = { ok: true; value: IncrementJson; badEntries: string[] } | { ok: false; reason: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a record (or a state entry) is unusable, or undefined when it is well-formed. */
export function checkRecord(v: unknown): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (!isSafeRelPath(v.path)) return `unsafe path ${JSON.stringify(v.path)}`;
  if (v.type !== 'file' && v.type !== 'dir' && v.type !== 'symlink') return `${v.path}: bad type`;
  if (typeof v.size !== 'number' || typeof v.mtime_ns !== 'string' || !/^-?\d+$/.test(v.mtime_ns)) return `${v.path}: bad size or mtime_ns`;
  if (typeof v.mode !== 'number' || typeof v.tracked !== 'boolean') return `${v.path}: bad mode or tracked`;
  if (v.type === 'file' && (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256))) return `${v.path}: bad sha256`;
  if (v.type === 'symlink' && typeof v.target !== 'string') return `${v.path}: bad target`;
  return undefined;
}

/**
 * Metadata is untrusted: validate the shape, drop (and name) entries with unsafe paths or wrong types,
 * reject the whole file when its frame is wrong.
 */
export function parseIncrementJson(text: string, expectedId?: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message})` };
  }
  if (!isObj(raw)) return { ok: false, reason: 'not a JSON object' };
  if (raw.format !== INCREMENT_FORMAT) return { ok: false, reason: `unknown format ${JSON.stringify(raw.format)}` };
  if (typeof raw.id !== 'string' || (expectedId !== undefined && raw.id !== expectedId)) {
    return { ok: false, reason: `id ${JSON.stringify(raw.id)} does not match its folder` };
  }
  for (const k of ['new', 'changed', 'deleted'] as const) if (!Array.isArray(raw[k])) return { ok: false, reason: `"${k}" is not a list` };
  if (typeof raw.complete !== 'boolean' || typeof raw.started !== 'string') return { ok: false, reason: 'bad "complete" or "started"' };
  const badEntries: string[] = [];
  const clean = (list: unknown): EntryRecord[] => {
    if (!Array.isArray(list)) return [];
    const out: EntryRecord[] = [];
    for (const r of list) {
      const bad = checkRecord(r);
      if (bad === undefined) out.push(r as EntryRecord);
      else badEntries.push(bad);
    }
    return out;
  };
  const value = {
    ...(raw as unknown as IncrementJson),
    new: clean(raw.new),
    changed: clean(raw.changed),
    deleted: clean(raw.deleted),
    errors: Array.isArray(raw.errors) ? (raw.errors as IncrementError[]) : [],
  };
  if (raw.carried !== undefined) {
    value.carried = clean(raw.carried).filter((r): r is CarriedRecord => {
      const c = r as Partial<CarriedRecord>;
      const ok = (c.status === 'new' || c.status === 'changed' || c.status === 'deleted') && typeof c.from === 'string';
      if (!ok) badEntries.push(`${r.path}: carried record without a valid status or origin`);
      return ok;
    });
  }
  return { ok: true, value, badEntries };
}
