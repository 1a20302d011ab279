/**
 * Profiles as the rest of hardback sees them: validated settings with defaults applied and paths
 * resolved (SPEC §1), plus the choice of profiles by name.
 */

import * as os from 'node:os';
import * as path from 'node:path';
import { configError } from '../io/errors.js';
import { closestMatch, PATTERN_KEYS, type ValidatedProfile } from './validate.js';

import type { SelectionRules } from '../select/rules.js';
import { isSameOrInside } from '../meta/safe-path.js';

/** The selection rules exactly as written in the config; src/select/rules.ts interprets them. */
export type { SelectionRules };

export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface Profile {
  /** "default" when the file has no "profiles". */
  name: string;
  /** Absolute path of the config file. */
  configFile: string;
  /** Absolute and normalized; never equal to or inside dist. */
  src: string;
  /** Absolute and normalized; may lie inside src (the walker skips it). */
  dist: string;
  /** Only the keys the config gives, lists copied as written: a key given as [] differs from an absent one. */
  rules: SelectionRules;
  maxWorkers: number;
  checksum: boolean;
  maxDeleteRatio: number;
  linkFallback: 'copy' | 'error';
  keep: KeepPolicy | undefined;
  pruneAfterBackup: boolean;
}

export const DEFAULTS = {
  /**
   * 2 or more: the scan and the copies use a second thread (README, `max_workers`). Beyond 2, the
   * number is how many files `--checksum` reads at once (and copies in flight on this thread when it
   * copies alone). Measured (session 19, bench/HISTORY.md): W1's 100,000 files / 1 GiB on the ext4
   * loop image, a `--checksum` run with nothing changed, 3 rounds, caches dropped (warm in brackets):
   * 1: 24.8–33.6 s (11.5–12.2 s); 2: 19.8–21.7 s (8.6–9.9 s); 4: 16.5–18.4 s (8.5–9.1 s);
   * 8: 15.6–18.1 s (8.6–9.7 s); 16: 15.8–16.3 s (8.3–8.8 s). Peak RSS 172, 180, 182, 186, 194 MiB
   * then, when the run held an entry per file (since session 20, 124 MiB at 8). 8 is where reading
   * from a disk stops gaining; 16 costs memory for no more.
   */
  maxWorkers: 8,
  checksum: false,
  maxDeleteRatio: 0.5,
  linkFallback: 'copy',
  pruneAfterBackup: false,
} as const;

/**
 * Applies defaults and resolves src/dist: "~" and "~/…" against the home folder, relative paths
 * against the config file's folder. `file` names the file in messages; its absolute form becomes
 * Profile.configFile. Pure: touches no filesystem, so "src inside dist" is decided on the paths as
 * written (symlinks are not followed; runBackup checks the real paths again).
 */
export function resolveProfiles(validated: ValidatedProfile[], file: string, opts: { home?: string } = {}): Profile[] {
  const configFile = path.resolve(file);
  const baseDir = path.dirname(configFile);
  const problems: string[] = [];
  const profiles: Profile[] = [];
  const at = (context: string, key: string): string => `${file}: ${context === '' ? key : `${context}.${key}`}`;

  for (const { name, context, settings } of validated) {
    const src = resolveConfigPath(settings.src, baseDir, opts.home, (msg) => problems.push(`${at(context, 'src')}: ${msg}`));
    const dist = resolveConfigPath(settings.dist, baseDir, opts.home, (msg) => problems.push(`${at(context, 'dist')}: ${msg}`));
    if (src === undefined || dist === undefined) continue;

    const where = context === '' ? `${file}: ` : `${file}: ${context}: `;
    if (isSameOrInside(src, dist)) {
      problems.push(
        path.relative(dist, src) === ''
          ? `${where}src and dist are the same folder (${src})`
          : `${where}src (${src}) is inside dist (${dist}); the backup would contain itself`,
      );
      continue;
    }

    const rules: SelectionRules = {};
    for (const key of PATTERN_KEYS) {
      const list = settings[key];
      if (list !== undefined) rules[key] = list.slice();
    }
    profiles.push({
      name,
      configFile,
      src,
      dist,
      rules,
      maxWorkers: settings.max_workers ?? DEFAULTS.maxWorkers,
      checksum: settings.checksum ?? DEFAULTS.checksum,
      maxDeleteRatio: settings.max_delete_ratio ?? DEFAULTS.maxDeleteRatio,
      linkFallback: settings.link_fallback ?? DEFAULTS.linkFallback,
      keep: settings.keep === undefined ? undefined : { ...settings.keep },
      pruneAfterBackup: settings.prune_after_backup ?? DEFAULTS.pruneAfterBackup,
    });
  }
  if (problems.length > 0) throw configError(problems.join('\n'));
  return profiles;
}

/**
 * One config path made absolute and normalized. Only "~" and "~/…" (also "~\…" on Windows) mean
 * the home folder; "~name" is refused rather than silently read as a folder named "~name".
 */
export function resolveConfigPath(
  raw: string,
  baseDir: string,
  home: string | undefined,
  onError: (message: string) => void,
): string | undefined {
  if (raw.startsWith('~')) {
    const rest = raw.slice(1);
    const isHomeForm = rest === '' || rest.startsWith('/') || (path.sep === '\\' && rest.startsWith('\\'));
    if (!isHomeForm) {
      onError(`${JSON.stringify(raw)}: only "~" and "~/…" are expanded (write "./${raw}" for a folder named "${raw.split(/[\\/]/)[0] ?? raw}")`);
      return undefined;
    }
    const homeDir = home ?? os.homedir();
    if (homeDir === '') {
      onError(`${JSON.stringify(raw)}: cannot expand "~": the home folder is unknown`);
      return undefined;
    }
    return path.resolve(homeDir, '.' + rest);
  }
  return path.resolve(baseDir, raw);
}


/**
 * The profiles named, in the order named, each once; all of them in file order when `names` is
 * empty. An unknown name is a configError listing the available names.
 */
export function selectProfiles(profiles: Profile[], names: string[]): Profile[] {
  if (names.length === 0) return profiles.slice();
  const available = profiles.map((p) => p.name);
  const file = profiles[0]?.configFile ?? 'config';
  const chosen: Profile[] = [];
  const problems: string[] = [];
  for (const name of new Set(names)) {
    const profile = profiles.find((p) => p.name === name);
    if (profile !== undefined) {
      chosen.push(profile);
      continue;
    }
    const suggestion = closestMatch(name, available);
    const hint = suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`;
    problems.push(`${file}: no profile named ${JSON.stringify(name)}${hint}; profiles in this file: ${available.join(', ')}`);
  }
  if (problems.length > 0) throw configError(problems.join('\n'));
  return chosen;
}
