/**
 * Structural validation of a parsed config file (SPEC §1): known keys, types, ranges, and the
 * merge of top-level defaults into each profile. Paths are not resolved here (see profiles.ts).
 *
 * Every problem found is reported, one line each, each line naming the file and the key, so a user
 * fixes a hand-edited file in one pass instead of one error per run.
 */

import { configError } from '../io/errors.js';
import type { KeepPolicy } from './profiles.js';

/** The selection-rule keys; their semantics belong to src/select. */
export const PATTERN_KEYS = [
  'include_dirs',
  'include_files',
  'track_dirs',
  'track_files',
  'exclude_dirs',
  'exclude_files',
] as const;
export type PatternKey = (typeof PATTERN_KEYS)[number];

/** Keys allowed both at the top level (as defaults) and inside each profile. */
export const PROFILE_KEYS = [
  'src',
  'dist',
  ...PATTERN_KEYS,
  'max_workers',
  'checksum',
  'max_delete_ratio',
  'link_fallback',
  'keep',
  'prune_after_backup',
] as const;
export type ProfileKey = (typeof PROFILE_KEYS)[number];

/** Keys allowed only at the top level. */
export const TOP_LEVEL_ONLY_KEYS = ['$schema', 'profiles'] as const;

export const KEEP_KEYS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const satisfies readonly (keyof KeepPolicy)[];

export const LINK_FALLBACKS = ['copy', 'error'] as const;
export type LinkFallback = (typeof LINK_FALLBACKS)[number];

export const MAX_WORKERS_MIN = 1;
export const MAX_WORKERS_MAX = 256;

/** The name of the one profile of a file without "profiles". */
export const DEFAULT_PROFILE_NAME = 'default';

/** The settings of one profile as written (or inherited), typed; absent keys are absent. */
export interface ProfileSettings {
  src?: string;
  dist?: string;
  include_dirs?: string[];
  include_files?: string[];
  track_dirs?: string[];
  track_files?: string[];
  exclude_dirs?: string[];
  exclude_files?: string[];
  max_workers?: number;
  checksum?: boolean;
  max_delete_ratio?: number;
  link_fallback?: LinkFallback;
  keep?: KeepPolicy;
  prune_after_backup?: boolean;
}

export interface ValidatedProfile {
  name: string;
  /** Key path of the profile for messages: "" for the single default profile, else e.g. "profiles.usb". */
  context: string;
  /** Top-level defaults merged with the profile's own keys, which replace them whole. */
  settings: ProfileSettings & { src: string; dist: string };
}

/**
 * Validates a parsed config value and returns its profiles in file order, defaults merged.
 * `file` is only used to name the file in messages.
 * Throws configError (exit 2) listing every problem.
 */
export function validateConfig(value: unknown, file: string): ValidatedProfile[] {
  const problems = new Problems(file);
  if (!isPlainObject(value)) {
    problems.add('', `the top level must be a JSON object {…} (got ${describe(value)})`);
    problems.throwIfAny();
  }
  const top = value as Record<string, unknown>;

  const defaults = readSettings(top, '', 'top', problems);

  const named: { name: string; context: string; own: ProfileSettings }[] = [];
  if (hasOwn(top, 'profiles')) {
    const profiles = top['profiles'];
    if (!isPlainObject(profiles)) {
      problems.add('profiles', `must be an object mapping profile names to profiles (got ${describe(profiles)})`);
    } else if (Object.keys(profiles).length === 0) {
      problems.add('profiles', 'must name at least one profile (or leave "profiles" out for a single profile)');
    } else {
      for (const [name, body] of Object.entries(profiles)) {
        const context = profileContext(name);
        if (name.trim() === '') {
          problems.add('profiles', `profile names must not be empty (got ${JSON.stringify(name)})`);
          continue;
        }
        if (!isPlainObject(body)) {
          problems.add(context, `must be an object holding the profile's settings (got ${describe(body)})`);
          continue;
        }
        named.push({ name, context, own: readSettings(body, context, 'profile', problems) });
      }
    }
  }
  problems.throwIfAny();

  const merged: ValidatedProfile[] = [];
  const list = hasOwn(top, 'profiles') ? named : [{ name: DEFAULT_PROFILE_NAME, context: '', own: {} }];
  for (const { name, context, own } of list) {
    const settings: ProfileSettings = { ...defaults, ...own };
    for (const key of ['src', 'dist'] as const) {
      if (settings[key] === undefined) {
        const what = key === 'src' ? 'the folder to back up' : 'the backup folder';
        const where = context === '' ? '' : '; set it in the profile or at the top level';
        problems.add(context, `missing key "${key}" (${what}${where})`);
      }
    }
    const { src, dist } = settings;
    if (src !== undefined && dist !== undefined) merged.push({ name, context, settings: { ...settings, src, dist } });
  }
  problems.throwIfAny();
  return merged;
}

/**
 * The candidate closest to `word`, for "did you mean" hints: an exact match ignoring case, "_" and
 * "-" first, else the nearest by Damerau–Levenshtein (optimal string alignment) distance, at most 2
 * (at most 1 for words of up to 3 characters, where 2 edits make nearly anything match).
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const squash = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = candidates.find((c) => squash(c) === squash(word));
  if (exact !== undefined) return exact;
  const limit = word.length <= 3 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}

/** Message key path of a profile: profiles.usb, or profiles["my profile"] for names that need quoting. */
export function profileContext(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? `profiles.${name}` : `profiles[${JSON.stringify(name)}]`;
}

class Problems {
  private readonly lines: string[] = [];
  constructor(private readonly file: string) {}
  add(keyPath: string, message: string): void {
    this.lines.push(keyPath === '' ? `${this.file}: ${message}` : `${this.file}: ${keyPath}: ${message}`);
  }
  throwIfAny(): void {
    if (this.lines.length > 0) throw configError(this.lines.join('\n'));
  }
}

function readSettings(
  obj: Record<string, unknown>,
  context: string,
  level: 'top' | 'profile',
  problems: Problems,
): ProfileSettings {
  const out: ProfileSettings = {};
  const keyPath = (key: string): string => (context === '' ? key : `${context}.${key}`);
  const allowed: readonly string[] = level === 'top' ? [...PROFILE_KEYS, ...TOP_LEVEL_ONLY_KEYS] : PROFILE_KEYS;

  // One pass in file order, so problems are listed in the order the user reads the file.
  for (const [key, value] of Object.entries(obj)) {
    if (!allowed.includes(key)) {
      problems.add(context, unknownKeyMessage(key, value, allowed, level));
      continue;
    }
    const path = keyPath(key);
    const known = key as ProfileKey | (typeof TOP_LEVEL_ONLY_KEYS)[number];
    switch (known) {
      case '$schema':
        if (typeof value !== 'string') problems.add(path, `must be a string (got ${describe(value)})`);
        break;
      case 'profiles':
        break; // checked by validateConfig
      case 'src':
      case 'dist':
        if (typeof value !== 'string' || value === '') {
          problems.add(path, `must be a non-empty string, the path of a folder (got ${describe(value)})`);
        } else if (value.includes('\0')) {
          problems.add(path, 'must not contain a NUL character');
        } else {
          out[known] = value;
        }
        break;
      case 'include_dirs':
      case 'include_files':
      case 'track_dirs':
      case 'track_files':
      case 'exclude_dirs':
      case 'exclude_files': {
        const list = readStringList(value, path, problems);
        if (list !== undefined) out[known] = list;
        break;
      }
      case 'max_workers':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < MAX_WORKERS_MIN || value > MAX_WORKERS_MAX) {
          problems.add(path, `must be an integer from ${MAX_WORKERS_MIN} to ${MAX_WORKERS_MAX} (got ${describe(value)})`);
        } else {
          out.max_workers = value;
        }
        break;
      case 'checksum':
      case 'prune_after_backup':
        if (typeof value !== 'boolean') problems.add(path, `must be true or false (got ${describe(value)})`);
        else out[known] = value;
        break;
      case 'max_delete_ratio':
        if (typeof value !== 'number' || value < 0 || value > 1) {
          const percent = typeof value === 'number' && value > 1 && value <= 100 ? `; it is a fraction: ${value / 100} means ${value}%` : '';
          problems.add(path, `must be a number from 0 to 1 (got ${describe(value)})${percent}`);
        } else {
          out.max_delete_ratio = value;
        }
        break;
      case 'link_fallback':
        if (value !== 'copy' && value !== 'error') {
          problems.add(path, `must be "copy" or "error" (got ${describe(value)})`);
        } else {
          out.link_fallback = value;
        }
        break;
      case 'keep': {
        const keep = readKeep(value, path, problems);
        if (keep !== undefined) out.keep = keep;
        break;
      }
    }
  }
  return out;
}

function unknownKeyMessage(key: string, value: unknown, allowed: readonly string[], level: 'top' | 'profile'): string {
  const quoted = JSON.stringify(key);
  if (level === 'profile' && (TOP_LEVEL_ONLY_KEYS as readonly string[]).includes(key)) {
    return `${quoted} is only allowed at the top level, not inside a profile`;
  }
  const suggestion = closestMatch(key, allowed);
  if (suggestion !== undefined) return `unknown key ${quoted} (did you mean ${JSON.stringify(suggestion)}?)`;
  const keepKey = closestMatch(key, KEEP_KEYS);
  if (keepKey !== undefined) return `unknown key ${quoted} (did you mean "keep": {${JSON.stringify(keepKey)}: …}?)`;
  if (level === 'top' && isPlainObject(value) && (hasOwn(value, 'src') || hasOwn(value, 'dist'))) {
    return `unknown key ${quoted} (if it is a profile, put it inside "profiles": {${quoted}: {…}})`;
  }
  return `unknown key ${quoted}`;
}

function readStringList(value: unknown, path: string, problems: Problems): string[] | undefined {
  if (!Array.isArray(value)) {
    const fix = typeof value === 'string' ? ` — write [${JSON.stringify(value)}]` : '';
    problems.add(path, `must be an array of strings (got ${describe(value)})${fix}`);
    return undefined;
  }
  let ok = true;
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || item === '') {
      problems.add(`${path}[${i}]`, `must be a non-empty string (got ${describe(item)})`);
      ok = false;
    } else if (item.includes('\0')) {
      problems.add(`${path}[${i}]`, 'must not contain a NUL character');
      ok = false;
    }
  });
  return ok ? (value as string[]).slice() : undefined;
}

function readKeep(value: unknown, path: string, problems: Problems): KeepPolicy | undefined {
  if (!isPlainObject(value)) {
    problems.add(path, `must be an object such as {"daily": 7, "weekly": 4} (got ${describe(value)})`);
    return undefined;
  }
  const keep: KeepPolicy = {};
  let ok = true;
  for (const [key, n] of Object.entries(value)) {
    if (!(KEEP_KEYS as readonly string[]).includes(key)) {
      const suggestion = closestMatch(key, KEEP_KEYS);
      const hint = suggestion === undefined ? `; known: ${KEEP_KEYS.join(', ')}` : ` (did you mean ${JSON.stringify(suggestion)}?)`;
      problems.add(path, `unknown key ${JSON.stringify(key)}${hint}`);
      ok = false;
    } else if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      problems.add(`${path}.${key}`, `must be an integer ≥ 0 (got ${describe(n)})`);
      ok = false;
    } else {
      keep[key as keyof KeepPolicy] = n;
    }
  }
  // An empty policy would let prune drop every increment; refuse it rather than guess.
  if (ok && Object.keys(keep).length === 0) {
    problems.add(path, `must set at least one of ${KEEP_KEYS.join(', ')} (an empty policy would keep nothing)`);
    return undefined;
  }
  return ok ? keep : undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** A short rendering of a JSON value for "(got …)". */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? 'an empty array' : 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}…"` : s;
  }
  return String(v);
}
