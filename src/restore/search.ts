import type { StateEntry } from '../meta/entry.js';
import { compileGlobs, compileNameGlobs, isNamePattern } from '../select/glob.js';
import { compareIds } from '../store/ids.js';
import { versionsFrom, type History, type Version } from './state-at.js';

/**
 * `search`: every path the backup knows (in the mirror or in any increment) that matches a mask,
 * with its versions. A mask without `/` matches the name, one with `/` the whole path (the glob
 * syntax of the selection rules, SPEC §1).
 */

export interface SearchOptions {
  masks: readonly string[];
  /** Only paths the current state no longer holds. */
  deleted?: boolean;
  /** Only versions recorded in increments from `since` to `until` (ids, both included). */
  since?: string;
  until?: string;
}

export interface SearchResult {
  path: string;
  current: StateEntry | undefined;
  /** Newest first; with since/until, only those in the range. */
  versions: Version[];
}

/** Whether a path matches any of the masks (every path, without masks). */
export function compileMasks(masks: readonly string[]): (path: string) => boolean {
  if (masks.length === 0) return () => true;
  const byName = compileNameGlobs(masks.filter(isNamePattern), 'exact');
  const byPath = compileGlobs(
    masks.filter((m) => !isNamePattern(m)),
    'exact',
  );
  return (p) => byName(p) || byPath(p);
}

export function searchHistory(h: History, opts: SearchOptions): SearchResult[] {
  return [...eachSearchResult(h, opts)];
}

/**
 * The search's results one at a time, in the order of their paths (searchHistory is their list). A
 * caller that writes each result as it comes (`backup-tool search`) holds none of them after: built
 * all first, the versions of 31,000 paths (W1's `Taxes/**` over 100 increments) lived through the
 * young generation's collections until the output began, and each was copied there; taken one at a
 * time, they are dropped young. Searching and writing that search took 315 → 277 ms (medians of 8
 * alternating runs, marks; bench/HISTORY.md "What changed in session 32").
 */
export function* eachSearchResult(h: History, opts: SearchOptions): Generator<SearchResult, void, undefined> {
  const matches = compileMasks(opts.masks);
  const ranged = opts.since !== undefined || opts.until !== undefined;
  const inRange = (v: Version) =>
    v.id !== undefined &&
    (opts.since === undefined || compareIds(v.id, opts.since) >= 0) &&
    (opts.until === undefined || compareIds(v.id, opts.until) <= 0);
  // The paths found among the records and among the current entries, each list sorted, then merged:
  // at 30,000 paths, a lookup by path per path and per list (a cache miss or more each) cost more
  // than a second sort.
  const byPath = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  const recorded = [...h.timeline].filter(([p]) => matches(p)).sort(byPath);
  const current = [...h.current].filter(([p]) => matches(p)).sort(byPath);
  for (let i = 0, j = 0; i < recorded.length || j < current.length; ) {
    const r = recorded[i];
    const c = current[j];
    const path = r === undefined || (c !== undefined && c[0] < r[0]) ? (c as [string, StateEntry])[0] : r[0];
    const recs = r !== undefined && r[0] === path ? (i++, r[1]) : [];
    const cur = c !== undefined && c[0] === path ? (j++, c[1]) : undefined;
    if (opts.deleted === true && cur !== undefined) continue;
    let versions = versionsFrom(h, recs, cur);
    if (ranged) {
      versions = versions.filter(inRange);
      if (versions.length === 0) continue;
    }
    yield { path, current: cur, versions };
  }
}
