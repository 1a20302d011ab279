import type { Fs } from '../io/fs.js';
import { writeFileAtomic } from '../io/atomic.js';
import { isCode } from '../io/errors.js';
import type { StateEntry } from '../meta/entry.js';
import { StateTable } from './state-table.js';
import { asciiJson } from '../meta/ascii-json.js';
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
  /** Entries below each top-level name (when there are at most 512): to share the next scan out fairly. */
  top?: Record<string, number>;
}

export interface Manifest {
  header: ManifestHeader | undefined;
  entries: StateTable;
}

/**
 * The manifest is the last backed-up state: a header line, then one line per entry in the
 * StateTable encoding (src/store/state-table.ts). It, not the mirror, is what a run compares against
 * (exact mtimes; the mirror's cannot be set to the nanosecond). A missing manifest is an empty state.
 * A damaged one is an error: guessing could empty a backup.
 */
export function readManifest(fs: Fs, file: string): Manifest {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return { header: undefined, entries: new StateTable() };
    throw err;
  }
  try {
    const tail = { unterminated: false };
    const lines = linesOf(fs, fd, tail);
    const first = lines.next();
    let header: ManifestHeader;
    try {
      header = JSON.parse(first.done === true ? '' : first.value) as ManifestHeader;
    } catch {
      throw failure(`${file}: the manifest header is not readable JSON`, { hint: 'run `backup-tool verify` and see docs/format.md' });
    }
    if (header.hardback !== 'manifest' || header.format !== FORMAT) {
      throw failure(`${file}: not a hardback manifest of format ${FORMAT}`);
    }
    const entries = new StateTable();
    let lineNo = 1;
    for (const line of lines) {
      lineNo++;
      const parsed = StateTable.parseLine(line);
      if (parsed === undefined) throw failure(`${file}: line ${lineNo} is damaged`);
      entries.setLine(parsed.path, parsed.line);
    }
    // Every line, the last too, ends with a newline: a file cut inside its last line is refused
    // (a cut at a line boundary fails the count below).
    if (tail.unterminated) throw failure(`${file}: line ${lineNo} is cut short (truncated?)`);
    if (entries.size !== header.entries) {
      throw failure(`${file}: the header promises ${header.entries} entries but ${entries.size} were read (truncated?)`);
    }
    return { header, entries };
  } finally {
    fs.closeSync(fd);
  }
}

/** Bytes read at a time: the 20 MB manifest of a 100k-entry state is never in memory twice (bytes and text). */
const READ_CHUNK = 4 << 20;

/**
 * The lines of an ASCII file (the manifest is ASCII by construction, state-table.ts): latin1 decodes
 * it fastest, into one-byte strings. A last line without its newline is still given, and marked.
 */
function* linesOf(fs: Fs, fd: number, tail: { unterminated: boolean }): Generator<string> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let carry = '';
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    const text = buf.toString('latin1', 0, n);
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      yield start === 0 && carry !== '' ? carry + text.slice(0, nl) : text.slice(start, nl);
      carry = '';
      start = nl + 1;
    }
    carry += text.slice(start);
  }
  if (carry !== '') {
    tail.unterminated = true;
    yield carry;
  }
}

/** Only the header line (the recorded source), without reading the entries. */
export function readManifestHeader(fs: Fs, file: string): ManifestHeader | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.toString('latin1', 0, n);
    const nl = text.indexOf('\n');
    const header = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as ManifestHeader;
    return header.hardback === 'manifest' ? header : undefined;
  } catch {
    return undefined; // readManifest names the damage when the run reads it whole
  } finally {
    fs.closeSync(fd);
  }
}

export function writeManifest(
  fs: Fs,
  file: string,
  info: { source: string; lastIncrement: string | null },
  entries: StateTable | Iterable<StateEntry>,
): void {
  const table = entries instanceof StateTable ? entries : StateTable.from(entries);
  const header: ManifestHeader = {
    hardback: 'manifest',
    format: FORMAT,
    source: info.source,
    last_increment: info.lastIncrement,
    written: new Date().toISOString(),
    entries: table.size,
  };
  const top = topLevelCounts(table.keys());
  if (top !== undefined) header.top = top;
  writeFileAtomic(fs, file, manifestText(header, table));
}

/** Line by line: writeFileAtomic writes it a MiB at a time, never the whole 20 MB of a 100k-entry state at once. */
function* manifestText(header: ManifestHeader, table: StateTable): Generator<string> {
  yield `${asciiJson(header)}\n`;
  for (const line of table.encodedLines()) yield `${line}\n`;
}


const MAX_TOP_NAMES = 512;

function topLevelCounts(paths: Iterable<string>): Record<string, number> | undefined {
  const counts = new Map<string, number>();
  for (const path of paths) {
    const slash = path.indexOf('/');
    const top = slash < 0 ? path : path.slice(0, slash);
    counts.set(top, (counts.get(top) ?? 0) + 1);
    if (counts.size > MAX_TOP_NAMES) return undefined;
  }
  return Object.fromEntries(counts);
}
