import type { StateEntry } from '../meta/entry.js';
import { compileGlobs, compileNameGlobs, isNamePattern } from '../select/glob.js';
import { compareIds } from '../store/ids.js';
import { sortedPaths, versionsOf, type History, type Version } from './state-at.js';

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
  const matches = compileMasks(opts.masks);
  const ranged = opts.since !== undefined || opts.until !== undefined;
  const inRange = (v: Version) =>
    v.id !== undefined &&
    (opts.since === undefined || compareIds(v.id, opts.since) >= 0) &&
    (opts.until === undefined || compareIds(v.id, opts.until) <= 0);
  const paths = new Set<string>(h.timeline.keys());
  for (const p of h.current.keys()) paths.add(p);
  const out: SearchResult[] = [];
  for (const path of sortedPaths(paths)) {
    if (!matches(path)) continue;
    const current = h.current.get(path);
    if (opts.deleted === true && current !== undefined) continue;
    let versions = versionsOf(h, path);
    if (ranged) {
      versions = versions.filter(inRange);
      if (versions.length === 0) continue;
    }
    out.push({ path, current, versions });
  }
  return out;
}
