// Glob patterns for selection rules (SPEC §1). Pure: no fs access.
//
// Paths are `/`-separated, relative to src, without a leading `/` ('' is src itself).
// Pattern syntax, case-sensitive, compared by Unicode code points (no normalization):
// - `*`       any run of characters within one name (never `/`); it also matches a leading `.`;
// - `**`      as a whole segment: zero or more whole names (`a/**/b` matches `a/b`, `a/x/y/b`;
//             `**/x` matches `x`). A trailing `/**` needs at least one name: `a/**` matches
//             everything below `a` but not `a` itself (as in gitignore). `**` alone matches every
//             path. Inside a longer segment (`a**b`) it is the same as `*`;
// - `?`       one character (one code point), never `/`;
// - `[abc]`, `[a-z]`, `[!a]`, `[^a]`   one character from / not from the set, never `/`; a `]`
//             right after `[` or `[!` is a member; `\` escapes inside the set; a reversed range
//             (`[z-a]`) is empty; a set that is not closed, or contains `/`, is a literal `[`;
// - `\x`      the character x literally (`\/` is still a separator: no name contains `/`);
//             a lone trailing `\` is a literal backslash.
// No brace expansion: `{a,b}` is literal.
// Normalization: empty segments and `.` segments are dropped, so a leading `/` or `./`, a
// trailing `/` and `a//b` are all tolerated. A pattern left with no segment ('', '.', '/') names
// src itself: it matches the path '' only.

/** Which paths a compiled predicate accepts, relative to the paths the patterns match. */
export type GlobScope =
  | 'exact' // the path itself matches
  | 'within' // the path matches or lies below a match (an ancestor-or-self prefix matches)
  | 'below'; // the path lies strictly below a match (a strict ancestor prefix matches)

interface Segment {
  /** A whole-segment `**`. */
  readonly globstar: boolean;
  /** The exact name when the segment has no wildcard, else undefined. */
  readonly literal: string | undefined;
  /** RegExp source (flag `u`, no anchors) matching exactly one name. */
  readonly source: string;
}

const REGEX_SYNTAX = '\\^$.*+?()[]{}|/';
const ANY_NAME_CHAR = '[^/]';

function escapeChar(ch: string): string {
  return REGEX_SYNTAX.includes(ch) ? `\\${ch}` : ch;
}

function cpEscape(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

/** Reads one member character of a set at `i`; undefined when the set cannot go on there. */
function readSetChar(p: string, i: number): [cp: number, next: number] | undefined {
  let at = i;
  if (p.charCodeAt(at) === 0x5c /* \ */) at++;
  const cp = p.codePointAt(at);
  if (cp === undefined || cp === 0x2f /* / */) return undefined;
  return [cp, at + (cp > 0xffff ? 2 : 1)];
}

/** Parses a `[...]` set opening at `open`; undefined when it is not a valid set. */
function parseSet(p: string, open: number): [source: string, next: number] | undefined {
  let i = open + 1;
  let negate = false;
  if (p[i] === '!' || p[i] === '^') {
    negate = true;
    i++;
  }
  let members = '';
  let first = true;
  // A range may span `/` (`[+-0]`): a set never matches it, as the negated ones say outright.
  let spansSlash = false;
  for (;;) {
    if (i >= p.length) return undefined;
    if (p[i] === ']' && !first) {
      i++;
      break;
    }
    first = false;
    const lo = readSetChar(p, i);
    if (lo === undefined) return undefined;
    i = lo[1];
    if (p[i] === '-' && i + 1 < p.length && p[i + 1] !== ']') {
      const hi = readSetChar(p, i + 1);
      if (hi === undefined) return undefined;
      i = hi[1];
      if (lo[0] <= hi[0]) members += `${cpEscape(lo[0])}-${cpEscape(hi[0])}`;
      if (lo[0] <= 0x2f && 0x2f <= hi[0]) spansSlash = true;
    } else {
      members += cpEscape(lo[0]);
    }
  }
  if (negate) return [`[^/${members}]`, i];
  return [members === '' ? '(?!)' : spansSlash ? `(?!/)[${members}]` : `[${members}]`, i];
}

function parse(pattern: string): Segment[] {
  const segments: Segment[] = [];
  let source = '';
  let literal = '';
  let wild = false;
  let lastWasStar = false;
  let raw = ''; // the segment's unescaped text, to recognise `**`
  let escaped = false; // some character of the segment was escaped
  const flush = (): void => {
    if (raw === '' && !escaped) return;
    if (!wild && literal === '.') {
      // `.` names the current directory: dropped
    } else if (raw === '**' && !escaped) {
      segments.push({ globstar: true, literal: undefined, source: `${ANY_NAME_CHAR}*` });
    } else if (literal !== '' || wild) {
      segments.push({ globstar: false, literal: wild ? undefined : literal, source });
    }
    source = '';
    literal = '';
    wild = false;
    lastWasStar = false;
    raw = '';
    escaped = false;
  };
  const addLiteral = (ch: string): void => {
    source += escapeChar(ch);
    literal += ch;
    lastWasStar = false;
  };
  let i = 0;
  while (i < pattern.length) {
    const cp = pattern.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    if (ch === '/') {
      flush();
      i++;
      continue;
    }
    if (ch === '\\') {
      const nextCp = pattern.codePointAt(i + 1);
      if (nextCp === undefined) {
        addLiteral('\\');
        raw += '\\';
        i++;
      } else if (nextCp === 0x2f) {
        flush();
        i += 2;
      } else {
        const next = String.fromCodePoint(nextCp);
        addLiteral(next);
        raw += '\\' + next;
        escaped = true;
        i += 1 + next.length;
      }
      continue;
    }
    raw += ch;
    if (ch === '*') {
      if (!lastWasStar) source += `${ANY_NAME_CHAR}*`;
      lastWasStar = true;
      wild = true;
      i++;
    } else if (ch === '?') {
      source += ANY_NAME_CHAR;
      lastWasStar = false;
      wild = true;
      i++;
    } else if (ch === '[') {
      const set = parseSet(pattern, i);
      if (set === undefined) {
        addLiteral('[');
        i++;
      } else {
        source += set[0];
        raw += pattern.slice(i + 1, set[1]);
        lastWasStar = false;
        wild = true;
        i = set[1];
      }
    } else {
      addLiteral(ch);
      i += ch.length;
    }
  }
  flush();
  // Consecutive `**` mean the same as one; collapsing keeps the trailing-`**` rule simple.
  return segments.filter((s, k) => !(s.globstar && segments[k - 1]?.globstar === true));
}

/** RegExp source (no anchors) for a whole path matching `segments` (at least one). */
function pathSource(segments: readonly Segment[]): string {
  const m = segments.length;
  let out = '';
  for (let i = 0; i < m; i++) {
    const seg = segments[i];
    if (seg === undefined) continue;
    if (seg.globstar) {
      if (m === 1) out += '[^/]+(?:/[^/]+)*';
      else if (i === 0) out += '(?:[^/]+/)*';
      else if (i === m - 1) out += '(?:/[^/]+)+';
      else out += '(?:/[^/]+)*';
    } else {
      if (i > 0 && !(i === 1 && segments[0]?.globstar === true)) out += '/';
      out += seg.source;
    }
  }
  return out;
}

const SCOPE_TAIL: Record<GlobScope, string> = { exact: '$', within: '(?:/|$)', below: '/' };
const never = (): boolean => false;

/**
 * One predicate for a list of path patterns (true when any matches), compiled into a single
 * RegExp so the per-file cost is one `test` call and no allocation.
 */
export function compileGlobs(patterns: readonly string[], scope: GlobScope = 'exact'): (path: string) => boolean {
  let root = false;
  const alternatives: string[] = [];
  for (const pattern of patterns) {
    const segments = parse(pattern);
    if (segments.length === 0) root = true;
    else alternatives.push(pathSource(segments));
  }
  const re = alternatives.length === 0 ? undefined : new RegExp(`^(?:${alternatives.join('|')})${SCOPE_TAIL[scope]}`, 'u');
  if (root) {
    if (scope === 'within') return () => true;
    if (scope === 'below') return (path) => path !== '';
    return re === undefined ? (path) => path === '' : (path) => path === '' || re.test(path);
  }
  return re === undefined ? never : (path) => re.test(path);
}

/** Predicate for one path pattern; see compileGlobs. */
export function compileGlob(pattern: string, scope: GlobScope = 'exact'): (path: string) => boolean {
  return compileGlobs([pattern], scope);
}

/**
 * True when the pattern, ignoring trailing `/`, has no `/`: SPEC §1 matches such exclude patterns
 * against a name at any depth instead of the path.
 */
export function isNamePattern(pattern: string): boolean {
  return !pattern.replace(/\/+$/, '').includes('/');
}

/**
 * One predicate for a list of name patterns (no `/` except trailing ones; throws RangeError
 * otherwise), true when any matches. Scope 'exact' tests the path's last name, 'within' any of its
 * names, 'below' any name but the last (the names of its strict ancestors). A whole-name `**` is
 * the same as `*` here; a pattern with no segment ('', '.') matches nothing.
 */
export function compileNameGlobs(patterns: readonly string[], scope: GlobScope = 'exact'): (path: string) => boolean {
  const alternatives: string[] = [];
  for (const pattern of patterns) {
    const segments = parse(pattern);
    if (segments.length > 1) throw new RangeError(`not a name pattern (contains '/'): ${pattern}`);
    const seg = segments[0];
    if (seg !== undefined) alternatives.push(seg.source);
  }
  if (alternatives.length === 0) return never;
  if (scope === 'exact') {
    // The last name alone, against an anchored expression: a search tests every path of the state
    // and of every increment (~230,000 at W1 over 100 increments, on two threads), and the
    // expression below, tried at each position of the whole path, took 54–58 ms per 104,000 paths
    // where this takes 33–36 (cold, `*.md`; session 26).
    const name = new RegExp(`^(?:${alternatives.join('|')})$`, 'u');
    return (path) => name.test(path.slice(path.lastIndexOf('/') + 1));
  }
  const re = new RegExp(`(?:^|/)(?:${alternatives.join('|')})${SCOPE_TAIL[scope]}`, 'u');
  return (path) => re.test(path);
}

interface SegmentMatcher {
  readonly globstar: boolean;
  matches(name: string): boolean;
}

function toMatcher(seg: Segment): SegmentMatcher {
  if (seg.globstar) return { globstar: true, matches: () => true };
  const literal = seg.literal;
  if (literal !== undefined) return { globstar: false, matches: (name) => name === literal };
  const re = new RegExp(`^(?:${seg.source})$`, 'u');
  return { globstar: false, matches: (name) => re.test(name) };
}

/**
 * Predicate on a directory path: true when some path strictly below it could match the pattern,
 * so a walk looking for matches must enter it. Decided name by name (the remaining pattern is
 * assumed satisfiable), so it may say true for a directory that holds no match, never false for
 * one that could. The directory '' (src) is below-feasible for every pattern with a segment.
 * The returned function reuses internal buffers: it is not re-entrant (it never calls out).
 */
export function compileCouldMatchBelow(pattern: string): (dirPath: string) => boolean {
  const segs = parse(pattern).map(toMatcher);
  const m = segs.length;
  if (m === 0) return never;
  if (segs[0]?.globstar === true) return () => true;
  // NFA over pattern positions 0..m (m = whole pattern consumed). A globstar at k < m-1 may be
  // skipped; a trailing one must take at least one name.
  let cur = new Uint8Array(m + 1);
  let next = new Uint8Array(m + 1);
  return (dirPath) => {
    if (dirPath === '') return true;
    cur.fill(0);
    cur[0] = 1;
    let start = 0;
    for (;;) {
      const slash = dirPath.indexOf('/', start);
      const name = slash < 0 ? dirPath.slice(start) : dirPath.slice(start, slash);
      next.fill(0);
      let alive = false;
      for (let k = 0; k < m; k++) {
        if (cur[k] !== 1) continue;
        const seg = segs[k];
        if (seg === undefined) continue;
        if (seg.globstar) {
          next[k] = 1;
          next[k + 1] = 1;
          alive = true;
        } else if (seg.matches(name)) {
          next[k + 1] = 1;
          alive = true;
        }
      }
      if (!alive) return false;
      for (let k = 0; k < m - 1; k++) if (next[k] === 1 && segs[k]?.globstar === true) next[k + 1] = 1;
      const t = cur;
      cur = next;
      next = t;
      if (slash < 0) break;
      start = slash + 1;
    }
    for (let k = 0; k < m; k++) if (cur[k] === 1) return true;
    return false;
  };
}

/** One-off form of compileCouldMatchBelow; compile once instead when called in a loop. */
export function couldMatchBelow(pattern: string, dirPath: string): boolean {
  return compileCouldMatchBelow(pattern)(dirPath);
}
