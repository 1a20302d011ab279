import { isAbsolute, relative, sep } from 'node:path';
import { usageError } from '../io/errors.js';
import type { Entry } from '../meta/entry.js';
import { isSafeRelPath, parentOf } from '../meta/safe-path.js';
import { stateAt, versionsOf, type Cutoff, type History, type StateItem } from './state-at.js';

/**
 * Which versions `restore PATH…` writes: each PATH with everything below it, as of the cut; without
 * a cut, a PATH the latest state does not hold is taken as it was just before its last deletion.
 */

/**
 * A PATH as the user gives it: relative to the source ('/'-separated, `./` and a trailing `/`
 * tolerated) or absolute inside the source. Throws a usage error for anything else.
 */
export function normalizeRestorePath(raw: string, src: string | undefined): string {
  let p = raw;
  if (isAbsolute(p)) {
    const rel = src === undefined ? undefined : relative(src, p);
    if (rel === undefined || rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw usageError(`${raw}: not inside the source folder${src === undefined ? '' : ` ${src}`}`, 'give the path relative to the source folder, as `search` shows it');
    }
    p = rel.split(sep).join('/');
  }
  p = p.replace(/\/+/g, '/').replace(/^(\.\/)+/, '').replace(/\/$/, '');
  if (p === '' || p === '.') throw usageError(`${JSON.stringify(raw)} names the whole source folder`, 'use `backup-tool recreate` for the whole selection');
  if (!isSafeRelPath(p)) throw usageError(`${JSON.stringify(raw)}: not a path inside the backup (no "..", no NUL)`);
  return p;
}

export interface PathChoice {
  path: string;
  cut: Cutoff;
  /** Set when PATH was taken from before its deletion: the increment that deleted it. */
  deletedIn?: string;
}

export interface RestoreSelection {
  items: StateItem[];
  choices: PathChoice[];
  /** Recorded versions of the folders above each PATH, for creating missing ones with their modes. */
  parents: Map<string, Entry>;
  /** PATHs the chosen state does not hold; `known`: the backup has versions of it at other times. */
  notFound: { path: string; hint: string; known: boolean }[];
}

const within = (root: string) => (p: string) => p === root || p.startsWith(`${root}/`);

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = parentOf(path); p !== ''; p = parentOf(p)) out.push(p);
  return out;
}

/** The paths selectPaths looks at for these PATHs: each with everything below it, and the folders above it. */
export function pathsFilter(paths: readonly string[]): (p: string) => boolean {
  const ups = new Set(paths.flatMap(ancestors));
  const roots = paths.map(within);
  return (p) => ups.has(p) || roots.some((r) => r(p));
}

export function selectPaths(h: History, paths: readonly string[], cut: Cutoff | undefined): RestoreSelection {
  const sel: RestoreSelection = { items: [], choices: [], parents: new Map(), notFound: [] };
  const taken = new Set<string>();
  for (const path of paths) {
    const ups = new Set(ancestors(path));
    const want = (p: string) => within(path)(p) || ups.has(p);
    let chosen: Cutoff = cut ?? 'latest';
    let state = stateAt(h, chosen, want);
    let deletedIn: string | undefined;
    if (!state.has(path) && cut === undefined) {
      const lastDeletion = [...(h.timeline.get(path) ?? [])].reverse().find((r) => r.kind === 'deleted');
      if (lastDeletion !== undefined) {
        chosen = { before: lastDeletion.id };
        deletedIn = lastDeletion.id;
        state = stateAt(h, chosen, want);
      }
    }
    if (!state.has(path)) {
      const versions = versionsOf(h, path);
      const hint =
        versions.length === 0
          ? 'no version of it is in this backup (`backup-tool search` finds paths)'
          : `its versions: ${versions
              .slice(0, 5)
              .map((v) => `${v.status} in ${v.id ?? '?'}`)
              .join(', ')}${versions.length > 5 ? ', …' : ''} (\`backup-tool history ${path}\`)`;
      sel.notFound.push({ path, hint, known: versions.length > 0 });
      continue;
    }
    sel.choices.push(deletedIn === undefined ? { path, cut: chosen } : { path, cut: chosen, deletedIn });
    for (const [p, item] of state) {
      if (ups.has(p)) {
        if (item.entry !== undefined && item.type === 'dir') sel.parents.set(p, item.entry);
        continue;
      }
      if (taken.has(p)) continue;
      taken.add(p);
      sel.items.push(item);
    }
  }
  return sel;
}
