// Selection rules (SPEC §1) compiled into per-path predicates. Pure: no fs access; every answer
// depends on the relative path alone, so the same Selector serves the walk and checks of paths
// known only from an earlier run's manifest.
//
// Decisions beyond SPEC §1 (pattern syntax: see glob.ts):
// - include_*/track_* patterns always match the whole relative path (`todo.txt` is src/todo.txt
//   only); exclude_* patterns without `/` (trailing `/` ignored) match a name at any depth, with
//   `/` the path (so `/Temp` or `./Temp` anchors an exclude to src's top level).
// - *_dirs rules apply to directories, *_files rules to everything else (files, symlinks,
//   specials): a symlink or file named `Temp` is not excluded by exclude_dirs `Temp`, a directory
//   `x.log` is not excluded by exclude_files `*.log`, and a non-directory whose own path matches an
//   include_dirs/track_dirs pattern is not included/tracked by it (only entries below it are).
// - An include_dirs/track_dirs pattern with no segment (`.`, `/`) names src itself: everything.

import { compileCouldMatchBelow, compileGlobs, compileNameGlobs, isNamePattern } from './glob.js';

export interface SelectionRules {
  include_dirs?: string[];
  include_files?: string[];
  track_dirs?: string[];
  track_files?: string[];
  exclude_dirs?: string[];
  exclude_files?: string[];
}

export interface Selector {
  /** Walk into directory `rel` ('' = src root is never asked)? False when excluded (exclude_dirs) or when nothing below it can be included. */
  enterDir(rel: string): boolean;
  /** The directory itself is included unconditionally (it is, or lies inside, an include_dirs match; or no include rules at all) — so it is mirrored even when empty. Directories that are merely on the way to an included entry are added by the caller after the walk. */
  dirIncluded(rel: string): boolean;
  /** A non-directory entry (file, symlink, special) at `rel` is included: not excluded by exclude_files, and (no include rules, or inside an included dir, or matches include_files). */
  fileIncluded(rel: string): boolean;
  /** Tracked: when neither track_dirs nor track_files is given (undefined), every included entry is tracked; when either is given (even []), only entries inside a track_dirs match or matching track_files (for a directory: it is, or lies inside, a track_dirs match). Only meaningful for included entries: it does not check inclusion. */
  isTracked(rel: string, isDir: boolean): boolean;
}

type Test = (path: string) => boolean;

const either = (a: Test, b: Test): Test => (path) => a(path) || b(path);

/** Exclude predicates: name patterns against names at any depth, the others against the path. */
function compileExcludes(patterns: readonly string[], nameScope: 'exact' | 'within' | 'below'): Test {
  const names = patterns.filter(isNamePattern);
  const paths = patterns.filter((p) => !isNamePattern(p));
  const byName = compileNameGlobs(names, nameScope);
  if (paths.length === 0) return byName;
  return either(byName, compileGlobs(paths, nameScope));
}

export function compileSelection(rules: SelectionRules): Selector {
  const includeDirs = rules.include_dirs ?? [];
  const includeFiles = rules.include_files ?? [];
  const includeAll = includeDirs.length === 0 && includeFiles.length === 0;
  const inIncludedDir = compileGlobs(includeDirs, 'within');
  const belowIncludedDir = compileGlobs(includeDirs, 'below');
  const matchesIncludeFile = compileGlobs(includeFiles, 'exact');
  const leadsToInclude = [...includeDirs, ...includeFiles].map(compileCouldMatchBelow);

  const trackAll = rules.track_dirs === undefined && rules.track_files === undefined;
  const trackDirs = rules.track_dirs ?? [];
  const inTrackedDir = compileGlobs(trackDirs, 'within');
  const belowTrackedDir = compileGlobs(trackDirs, 'below');
  const matchesTrackFile = compileGlobs(rules.track_files ?? [], 'exact');

  const excludeDirs = rules.exclude_dirs ?? [];
  const dirExcluded = compileExcludes(excludeDirs, 'within'); // the directory or an ancestor
  const underExcludedDir = compileExcludes(excludeDirs, 'below'); // a strict ancestor
  const fileExcluded = compileExcludes(rules.exclude_files ?? [], 'exact');

  return {
    enterDir(rel) {
      if (dirExcluded(rel)) return false;
      if (includeAll || inIncludedDir(rel)) return true;
      for (const could of leadsToInclude) if (could(rel)) return true;
      return false;
    },
    dirIncluded(rel) {
      return !dirExcluded(rel) && (includeAll || inIncludedDir(rel));
    },
    fileIncluded(rel) {
      if (fileExcluded(rel) || underExcludedDir(rel)) return false;
      return includeAll || belowIncludedDir(rel) || matchesIncludeFile(rel);
    },
    isTracked(rel, isDir) {
      if (trackAll) return true;
      return isDir ? inTrackedDir(rel) : belowTrackedDir(rel) || matchesTrackFile(rel);
    },
  };
}
