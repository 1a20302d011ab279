import type { Fs } from '../io/fs.js';
import { writeFileAtomic } from '../io/atomic.js';
import { isCode } from '../io/errors.js';
import type { StateEntry } from '../meta/entry.js';
import { isSafeRelPath } from '../meta/safe-path.js';
import { failure } from '../io/errors.js';

/** Version of the on-disk format (manifest, journal, increment.json). See docs/format.md. */
export const FORMAT = 1;

export interface ManifestHeader {
  hardback: 'manifest';
  format: number;
  /** Absolute source folder this backup belongs to (the wrong-destination guard). */
  source: string;
  /** Id of the last increment whose changes this state includes. */
  last_increment: string | null;
  written: string;
  entries: number;
}

export interface Manifest {
  header: ManifestHeader | undefined;
  entries: Map<string, StateEntry>;
}

/**
 * The manifest is the last backed-up state: one JSON line per entry after a header line. It, not the
 * mirror, is what a run compares against (exact mtimes; the mirror's cannot be set to the nanosecond).
 * A missing manifest is an empty state. A damaged one is an error: guessing could empty a backup.
 */
export function readManifest(fs: Fs, file: string): Manifest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return { header: undefined, entries: new Map() };
    throw err;
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let header: ManifestHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as ManifestHeader;
  } catch {
    throw failure(`${file}: the manifest header is not readable JSON`, { hint: 'run `backup-tool verify` and see docs/format.md' });
  }
  if (header.hardback !== 'manifest' || header.format !== FORMAT) {
    throw failure(`${file}: not a hardback manifest of format ${FORMAT}`);
  }
  const entries = new Map<string, StateEntry>();
  for (let i = 1; i < lines.length; i++) {
    let e: StateEntry;
    try {
      e = JSON.parse(lines[i] as string) as StateEntry;
    } catch {
      throw failure(`${file}: line ${i + 1} is not readable JSON`);
    }
    if (!isSafeRelPath(e.path)) throw failure(`${file}: line ${i + 1} has an unsafe path`);
    entries.set(e.path, e);
  }
  if (entries.size !== header.entries) {
    throw failure(`${file}: the header promises ${header.entries} entries but ${entries.size} were read (truncated?)`);
  }
  return { header, entries };
}

export function writeManifest(
  fs: Fs,
  file: string,
  info: { source: string; lastIncrement: string | null },
  entries: Iterable<StateEntry>,
): void {
  const lines: string[] = [];
  for (const e of entries) lines.push(JSON.stringify(e));
  const header: ManifestHeader = {
    hardback: 'manifest',
    format: FORMAT,
    source: info.source,
    last_increment: info.lastIncrement,
    written: new Date().toISOString(),
    entries: lines.length,
  };
  lines.unshift(JSON.stringify(header));
  lines.push('');
  writeFileAtomic(fs, file, lines.join('\n'));
}
