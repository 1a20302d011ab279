import { isAbsolute, relative, sep } from 'node:path';

/**
 * Metadata is untrusted on read: every relative path taken from a manifest, journal or increment.json
 * goes through isSafeRelPath before it is joined to any folder.
 *
 * Unsafe: a NUL, a leading `/`, or an empty, `.` or `..` segment (`a//b`, `./a`, `a/..`, `a/`); on
 * Windows also a backslash or a drive letter (`C:`), which are separators or roots there. On Linux
 * and macOS `\` and `C:` are ordinary characters of a name, so a source file named `a\b.txt` is
 * backed up and its entry read back like any other. One regular expression: a reader checks every
 * path of 100k-entry metadata, and splitting each into segments took four times as long.
 */
const UNSAFE_POSIX = /\0|^\/|(?:^|\/)\.{0,2}(?:\/|$)/;
const UNSAFE_WINDOWS = /[\0\\]|^\/|^[A-Za-z]:|(?:^|\/)\.{0,2}(?:\/|$)/;
const UNSAFE = process.platform === 'win32' ? UNSAFE_WINDOWS : UNSAFE_POSIX;

/** A non-empty relative path of at most 4096 characters, none of the above. */
export function isSafeRelPath(p: unknown): p is string {
  return typeof p === 'string' && p.length > 0 && p.length <= 4096 && !UNSAFE.test(p);
}

/**
 * The OS path of a validated relative path under the folder `dir`, joined by hand, as Layout's
 * per-file paths are: path.join's normalisation of each buys nothing for a checked path, and cost
 * ~50 ms of a 100k-file first run. A root `dir` (`/`) gets no second slash.
 */
export function pathUnder(dir: string, rel: string): string {
  return dir.endsWith('/') ? `${dir}${rel}` : `${dir}/${rel}`;
}

/** Parent of a relative path, '' for a top-level entry. */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** The top-level name of a relative path: its first segment. */
export function topLevelName(rel: string): string {
  const slash = rel.indexOf('/');
  return slash < 0 ? rel : rel.slice(0, slash);
}

/**
 * Whether the absolute OS path `child` is `parent` or lies below it, on normalized paths (no symlinks
 * resolved): the one test used for "src inside dist", "the target inside the backup" and "the
 * backup inside the target".
 */
export function isSameOrInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
