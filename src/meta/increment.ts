import { constants, isAscii } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { EntryRecord } from './entry.js';
import { isSafeRelPath } from './safe-path.js';
import { linePieces } from '../io/line-pieces.js';

/** increment.json (SPEC §2, docs/format.md). */
export const INCREMENT_FORMAT = 1;

export interface IncrementError {
  path: string;
  op: string;
  code: string;
  message: string;
}

export interface IncrementSummary {
  new: number;
  changed: number;
  deleted: number;
  errors: number;
  bytes_copied: number;
}

/**
 * increment.json, its record lists holding records of type R (carried ones: C). As read and used,
 * records (IncrementJson); as the reading with `recordText` hands them to another thread, text
 * (IncrementText).
 */
export interface IncrementJsonOf<R, C> {
  format: number;
  id: string;
  profile: string;
  source: string;
  started: string;
  finished: string | null;
  complete: boolean;
  link_mode: 'hardlink' | 'copy';
  hardback_version: string;
  /** Id of the increment before this one when the run started (null for the first). */
  previous: string | null;
  /** Set by a later run that finalised this one after an interruption. */
  interrupted?: { recovered_at: string };
  summary: IncrementSummary;
  new: R[];
  changed: R[];
  deleted: R[];
  errors: IncrementError[];
  skipped?: { path: string; kind: string }[];
  /**
   * Added by prune (docs/retention.md): the net effect of the pruned increments just before this one,
   * one record per path, replayed before this increment's own lists. A carried tracked file version
   * (status new/changed) has its content at this increment's files/<path>.
   */
  carried?: C[];
  /** Ids of the increments whose records were carried into this one. */
  pruned?: string[];
}

export type IncrementJson = IncrementJsonOf<EntryRecord, CarriedRecord>;

/**
 * A record as the JSON text of its line in increment.json, checked as a record is but not parsed
 * (parseIncrementPieces or parseIncrementBytes with `recordText`).
 */
export type RecordText = string;

/**
 * What the reading gives with `recordText`: a list read line by line holds each wanted
 * record as its text, one of a file parsed whole holds records.
 */
export type IncrementText = IncrementJsonOf<EntryRecord | RecordText, CarriedRecord | RecordText>;

export interface CarriedRecord extends EntryRecord {
  status: 'new' | 'changed' | 'deleted';
  /** The increment that originally recorded this version. */
  from: string;
}

export type ParseResult<J = IncrementJson> = { ok: true; value: J; badEntries: string[] } | { ok: false; reason: string };

/** A JSON object (not null, not a list). */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a record (or a state entry) is unusable, or undefined when it is well-formed. */
export function checkRecord(v: unknown): string | undefined {
  if (!isObj(v)) return 'not an object';
  if (!isSafeRelPath(v.path)) return `unsafe path ${JSON.stringify(v.path)}`;
  if (v.type !== 'file' && v.type !== 'dir' && v.type !== 'symlink') return `${v.path}: bad type`;
  if (typeof v.size !== 'number' || typeof v.mtime_ns !== 'string' || !/^-?\d+$/.test(v.mtime_ns)) return `${v.path}: bad size or mtime_ns`;
  if (typeof v.mode !== 'number' || typeof v.tracked !== 'boolean') return `${v.path}: bad mode or tracked`;
  if (v.type === 'file' && (typeof v.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(v.sha256))) return `${v.path}: bad sha256`;
  if (v.type === 'symlink' && typeof v.target !== 'string') return `${v.path}: bad target`;
  return undefined;
}

/** A path filter: which records a reader wants decoded. */
export type PathFilter = (path: string) => boolean;

const ALL: PathFilter = () => true;

/** V8's longest string (2^29 - 24 characters): a file longer cannot be parsed whole. */
const MAX_STRING_LENGTH = constants.MAX_STRING_LENGTH;

/**
 * Metadata is untrusted: validate the shape, drop (and name) entries with unsafe paths or wrong types,
 * reject the whole file when its frame is wrong.
 */
export function parseIncrementJson(text: string, expectedId?: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message})` };
  }
  return fromRaw(raw, expectedId, ALL, AS_RECORDS, undefined);
}

/** How the readings of increment.json and readIncrements (store/catalog.ts) hand over the wanted records: their overloads say what each gives. */
export interface RecordsAs {
  recordText?: boolean;
}

/** How a wanted record goes into its list: from its line's text, or as the record it was parsed into. */
interface RecordForm<R, C> {
  line(text: string): R;
  record(r: EntryRecord, text: string | undefined): R;
  carried(r: CarriedRecord, text: string | undefined): C;
  carriedLine(text: string): C;
}
const AS_RECORDS: RecordForm<EntryRecord, CarriedRecord> = {
  line: (text) => JSON.parse(text) as EntryRecord, // a line the layout check accepted: a valid record
  record: (r) => r,
  carried: (r) => r,
  carriedLine: (text) => JSON.parse(text) as CarriedRecord,
};
const AS_TEXT: RecordForm<EntryRecord | RecordText, CarriedRecord | RecordText> = {
  line: (text) => text,
  record: (r, text) => text ?? r,
  carried: (r, text) => text ?? r,
  carriedLine: (text) => text,
};

/**
 * The same result as parseIncrementJson, except that the lists hold only the records whose path
 * `want` accepts: the others are checked exactly as parseIncrementJson checks them (a bad one is
 * named in `badEntries` the same way) but never turned into objects.
 *
 * At 100,000 records, parsing the whole file and building every record was most of a `search`. The
 * writer puts one record per line (src/store/records.ts incrementText), so a record line can be
 * checked by one regular expression and its path read without parsing it. The file is still read as
 * untrusted JSON, and anything that is not exactly that layout is parsed whole (LayoutReader):
 * - the frame (the file without the record lines) is parsed with JSON.parse, each block of record
 *   lines replaced by a token the file cannot contain, which must come back in its place;
 * - a record line that the record pattern (or the carried one) matches is valid JSON with the
 *   fields checkRecord requires, of the right types; its path is then checked with isSafeRelPath.
 *   Any other line is parsed and checked on its own, as parseIncrementJson would (and a line that
 *   is not JSON makes the whole file parsed, for the same error).
 *
 * With `recordText` (an IncrementText), a list read line by line holds each wanted record as the
 * JSON text of its line (checked as above but not parsed) for another thread to parse
 * (cli/tool/catalog-worker.ts); a list of a file parsed whole holds records as ever.
 */
export function parseIncrementBytes(bytes: Buffer, expectedId: string | undefined, want: PathFilter, opts: { recordText: true } & PieceSize): ParseResult<IncrementText>;
export function parseIncrementBytes(bytes: Buffer, expectedId: string | undefined, want: PathFilter, opts?: { recordText?: false } & PieceSize): ParseResult;
export function parseIncrementBytes(bytes: Buffer, expectedId: string | undefined, want: PathFilter, opts: RecordsAs & PieceSize = {}): ParseResult | ParseResult<IncrementText> {
  const pieces = opts.pieceBytes === undefined ? [bytes] : linePieces((buf, at, length, position) => bytes.copy(buf, at, position, position + length), opts.pieceBytes);
  const whole = () => (bytes.length > MAX_STRING_LENGTH ? undefined : bytes);
  return opts.recordText === true ? parsePieces(pieces, whole, expectedId, want, AS_TEXT) : parsePieces(pieces, whole, expectedId, want, AS_RECORDS);
}

/** How much of a file a line-by-line reading decodes at a time (tests give small sizes, to cut it often). */
export interface PieceSize {
  /** Bytes a piece of whole lines is cut at (a longer line makes a longer piece); the file at once by default. */
  pieceBytes?: number;
}

/**
 * parseIncrementBytes on a file read a piece at a time (`pieces`: whole lines, as linePieces cuts
 * them; undefined for a line too long to be the writer's), with `whole` giving the whole file for
 * one laid out otherwise (undefined: longer than a string can be). The file is never one string
 * unless it is parsed whole: a first run of 2.3 million files writes one longer than V8's longest
 * string (docs/format.md, "Layout").
 */
export function parseIncrementPieces(pieces: Iterable<Buffer | undefined>, whole: () => Buffer | undefined, expectedId: string | undefined, want: PathFilter, opts: { recordText: true }): ParseResult<IncrementText>;
export function parseIncrementPieces(pieces: Iterable<Buffer | undefined>, whole: () => Buffer | undefined, expectedId: string | undefined, want: PathFilter, opts?: { recordText?: false }): ParseResult;
export function parseIncrementPieces(pieces: Iterable<Buffer | undefined>, whole: () => Buffer | undefined, expectedId: string | undefined, want: PathFilter, opts: RecordsAs = {}): ParseResult | ParseResult<IncrementText> {
  return opts.recordText === true ? parsePieces(pieces, whole, expectedId, want, AS_TEXT) : parsePieces(pieces, whole, expectedId, want, AS_RECORDS);
}

function parsePieces<R, C>(pieces: Iterable<Buffer | undefined>, whole: () => Buffer | undefined, expectedId: string | undefined, want: PathFilter, form: RecordForm<R, C>): ParseResult<IncrementJsonOf<R, C>> {
  const read = readLayout(pieces, expectedId, want, form);
  if (read !== undefined) return read;
  const bytes = whole();
  if (bytes === undefined) return { ok: false, reason: `not laid out as hardback writes it, and longer than a text can be (${MAX_STRING_LENGTH} characters) to be parsed whole` };
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `not valid JSON (${(err as Error).message})` };
  }
  return fromRaw(raw, expectedId, want, form, undefined);
}

/**
 * The file read line by line (LayoutReader); undefined when it is laid out otherwise (to be parsed
 * whole), once nothing of that reading is held.
 */
function readLayout<R, C>(pieces: Iterable<Buffer | undefined>, expectedId: string | undefined, want: PathFilter, form: RecordForm<R, C>): ParseResult<IncrementJsonOf<R, C>> | undefined {
  const reader = new LayoutReader(want, form);
  for (const piece of pieces) {
    if (piece === undefined) reader.off = true;
    else reader.take(piece);
    if (reader.off) break;
  }
  if (reader.frameTooLong) return { ok: false, reason: `its fields other than the record lists (errors, skipped paths) are longer than a text can be (${MAX_STRING_LENGTH} characters)` };
  return reader.finish(expectedId);
}

type ListKey = 'new' | 'changed' | 'deleted' | 'carried';

/**
 * The checks of parseIncrementJson on a parsed file (or frame). `block` supplies a list that was
 * a block of lines (LayoutReader): its wanted records, its bad ones named in `badEntries`.
 */
function fromRaw<R, C>(
  raw: unknown,
  expectedId: string | undefined,
  want: PathFilter,
  form: RecordForm<R, C>,
  block: ((key: ListKey, badEntries: string[]) => (R | C)[] | undefined) | undefined,
): ParseResult<IncrementJsonOf<R, C>> {
  if (!isObj(raw)) return { ok: false, reason: 'not a JSON object' };
  if (raw.format !== INCREMENT_FORMAT) return { ok: false, reason: `unknown format ${JSON.stringify(raw.format)}` };
  if (typeof raw.id !== 'string' || (expectedId !== undefined && raw.id !== expectedId)) {
    return { ok: false, reason: `id ${JSON.stringify(raw.id)} does not match its folder` };
  }
  for (const k of ['new', 'changed', 'deleted'] as const) if (!Array.isArray(raw[k])) return { ok: false, reason: `"${k}" is not a list` };
  if (typeof raw.complete !== 'boolean' || typeof raw.started !== 'string') return { ok: false, reason: 'bad "complete" or "started"' };
  const badEntries: string[] = [];
  // A block's records are in the form its key asks for (LayoutReader.readRecord): R, or C for 'carried'.
  const clean = <T, V extends EntryRecord>(key: ListKey, check: (v: unknown) => string | undefined, take: (r: V) => T): T[] => {
    const lines = block?.(key, badEntries) as T[] | undefined;
    if (lines !== undefined) return lines;
    const list = raw[key];
    if (!Array.isArray(list)) return [];
    const out: T[] = [];
    for (const r of list) {
      const bad = check(r);
      if (bad !== undefined) badEntries.push(bad);
      else if (want((r as V).path)) out.push(take(r as V));
    }
    return out;
  };
  const record = (r: EntryRecord): R => form.record(r, undefined);
  const value: IncrementJsonOf<R, C> = {
    ...(raw as unknown as IncrementJsonOf<R, C>),
    new: clean('new', checkRecord, record),
    changed: clean('changed', checkRecord, record),
    deleted: clean('deleted', checkRecord, record),
    errors: Array.isArray(raw.errors) ? (raw.errors as IncrementError[]) : [],
  };
  if (raw.carried !== undefined) value.carried = clean('carried', checkCarried, (r: CarriedRecord): C => form.carried(r, undefined));
  return { ok: true, value, badEntries };
}

/** checkRecord, plus what a carried record needs: its status and origin. */
function checkCarried(v: unknown): string | undefined {
  const bad = checkRecord(v);
  if (bad !== undefined) return bad;
  const c = v as Partial<CarriedRecord>;
  const ok = (c.status === 'new' || c.status === 'changed' || c.status === 'deleted') && typeof c.from === 'string';
  return ok ? undefined : `${c.path as string}: carried record without a valid status or origin`;
}

/** Unique per process; a file cannot contain it, as it is drawn after the file was written. */
const TOKEN = `hardback-lines-${randomBytes(12).toString('hex')}`;
const blockToken = (i: number): string => `${TOKEN}-${i}`;

const OPEN = /^ "(new|changed|deleted|carried)": \[$/;

/**
 * The most frame text the line-by-line reading keeps (LayoutReader.keep): what can still be parsed
 * as one text with its tokens. A frame is a few KiB, and a line per error, skipped path and pruned
 * id: ~200 bytes an error, so a run would need ~2.5 million unreadable files to reach it.
 */
const FRAME_CHARS = MAX_STRING_LENGTH - (1 << 20);

/** A list read line by line: its wanted records, and the bad ones named. */
interface Block<T> {
  key: ListKey;
  out: T[];
  bad: string[];
  lines: number;
  /** Whether the last record line ended with a comma. */
  comma: boolean;
}

/**
 * Reads the layout incrementText writes, a piece of whole lines at a time: `{`, one
 * ` "key": value` per line, and each non-empty record list as ` "new": [`, one `  {record},` per
 * line (no comma after the last), then ` ]` or ` ],`. The frame is kept with each list replaced by
 * its token; each record line is judged as it is read (readRecord). `off` once the file is found
 * laid out otherwise (or a record line is not JSON): it is then parsed whole.
 */
class LayoutReader<R, C> {
  off = false;
  private started = false;
  private readonly frame: string[] = [];
  private frameChars = 0;
  /** The fields other than the record lists are longer than a text can be: neither reading can parse them. */
  frameTooLong = false;
  private readonly blocks: Block<R | C>[] = [];
  private block: Block<R | C> | undefined;

  constructor(
    private readonly want: PathFilter,
    private readonly form: RecordForm<R, C>,
  ) {}

  /**
   * One piece: whole lines (the file's last may end without a newline). It is read as one-byte
   * text (latin1: each byte one character, so offsets are byte offsets, and the layout's
   * characters are ASCII), and any part holding other bytes as the UTF-8 it is.
   */
  take(piece: Buffer): void {
    const text = piece.toString('latin1');
    const ascii = isAscii(piece);
    const utf8 = ascii ? (start: number, end: number) => text.slice(start, end) : (start: number, end: number) => piece.toString('utf8', start, end);
    if (!this.started) {
      this.started = true;
      if (!text.startsWith('{\n')) {
        this.off = true;
        return;
      }
    }
    let copied = 0; // where the frame text not yet kept starts
    for (let start = 0; start < text.length; ) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const block = this.block;
      if (block === undefined) {
        if (text.charCodeAt(start + 1) === 34 /* " */ && text.charCodeAt(end - 1) === 91 /* [ */) {
          const m = OPEN.exec(text.slice(start, end));
          if (m !== null) {
            this.block = { key: m[1] as ListKey, out: [], bad: [], lines: 0, comma: false };
            this.keep(utf8(copied, end + 1), `  "${blockToken(this.blocks.length)}"\n`);
            if (this.off) return;
          }
        }
      } else if (text.charCodeAt(start) === 32 && text.charCodeAt(start + 1) === 32 && text.charCodeAt(start + 2) === 123 /* "  {" */) {
        // A record line: a comma ends every one but the last.
        const comma = text.charCodeAt(end - 1) === 44;
        if ((block.lines > 0 && !block.comma) || !this.readRecord(block, text, ascii, utf8, start + 2, comma ? end - 1 : end)) {
          this.off = true;
          return;
        }
        block.lines++;
        block.comma = comma;
      } else {
        const close = text.slice(start, end);
        if ((close !== ' ]' && close !== ' ],') || block.lines === 0 || block.comma) {
          this.off = true;
          return;
        }
        this.blocks.push(block);
        this.block = undefined;
        copied = start;
      }
      start = end + 1;
    }
    if (this.block === undefined) this.keep(utf8(copied, text.length));
  }

  /** Frame text, kept to be parsed at the end; past FRAME_CHARS, the file cannot be read (frameTooLong). */
  private keep(...texts: string[]): void {
    for (const t of texts) this.frameChars += t.length;
    if (this.frameChars > FRAME_CHARS) this.off = this.frameTooLong = true;
    else this.frame.push(...texts);
  }

  /**
   * The result, once every piece was taken; undefined when the file is not the writer's layout.
   * The frame is parsed with JSON.parse; each list's token must come back as the only element of
   * the top-level list of that list's name, or the file is parsed whole. As each block holds
   * complete lines of one list, the file is valid JSON exactly when the frame is and every line is
   * a JSON value (readRecord).
   */
  finish(expectedId: string | undefined): ParseResult<IncrementJsonOf<R, C>> | undefined {
    if (this.off || !this.started || this.block !== undefined) return undefined;
    let frame: unknown;
    try {
      frame = JSON.parse(this.frame.join(''));
    } catch {
      return undefined;
    }
    const { blocks } = this;
    if (!isObj(frame) || !blocks.every((b, i) => {
      const list = frame[b.key];
      return Array.isArray(list) && list.length === 1 && list[0] === blockToken(i);
    })) return undefined;
    return fromRaw(frame, expectedId, this.want, this.form, (key, badEntries) => {
      const b = blocks.find((x) => x.key === key);
      if (b === undefined) return undefined;
      for (const bad of b.bad) badEntries.push(bad); // not push(...): a damaged file may name millions
      return b.out;
    });
  }

  /**
   * One record line, text[start, end) without its comma, into its block: a wanted record in the
   * form asked for (as text, the JSON text of its line: checked, not parsed; see recordText), a bad
   * one named as parseIncrementJson names it. False for a line that is not JSON.
   */
  private readRecord(b: Block<R | C>, text: string, ascii: boolean, utf8: (start: number, end: number) => string, start: number, end: number): boolean {
    const carried = b.key === 'carried';
    const { want, form } = this;
    let line: string | undefined;
    let path: string | undefined;
    if (matchesExactly((ascii ? ANY : ASCII)[carried ? 'carried' : 'record'], text, start, end)) {
      path = text.slice(start + 9, text.indexOf('"', start + 9));
    } else if (!ascii) {
      line = utf8(start, end);
      if (matchesExactly(ANY[carried ? 'carried' : 'record'], line, 0, line.length)) path = line.slice(9, line.indexOf('"', 9));
    }
    if (path !== undefined && isSafeRelPath(path)) {
      if (want(path)) {
        const json = line ?? text.slice(start, end);
        b.out.push(carried ? form.carriedLine(json) : form.line(json));
      }
      return true;
    }
    line ??= utf8(start, end);
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      return false;
    }
    const bad = carried ? checkCarried(r) : checkRecord(r);
    if (bad !== undefined) b.bad.push(bad);
    else if (want((r as EntryRecord).path)) b.out.push(carried ? form.carried(r as CarriedRecord, line) : form.record(r as EntryRecord, line));
    return true;
  }
}

// One record line as incrementText writes it (toRecord's field order). A line that matches is
// valid JSON whose fields pass checkRecord, except the path's safety (checked apart); the path has
// no escapes, so its text is its value. Any other line is parsed and checked on its own. The
// ASCII forms take only ASCII in strings: they test the one-byte text of a file that holds other
// bytes, whose lines with such bytes are decoded as UTF-8 and tested again.
function recordPatterns(char: string): { record: RegExp; carried: RegExp } {
  const str = String.raw`"(?:${char}|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"`;
  const int = String.raw`-?(?:0|[1-9]\d{0,15})`;
  const middle = String.raw`,"size":${int},"mtime":${str},"mtime_ns":"-?\d+","mode":${int},"uid":${int},"gid":${int},"tracked":(?:true|false)`;
  const body = String.raw`\{"path":"${char}+","type":"(?:file"${middle},"sha256":"[0-9a-f]{64}"|dir"${middle}|symlink"${middle},"target":${str})`;
  // Sticky: tested at a line's start in its piece's text (no string per line); the caller checks that
  // the match ends where the line does.
  return {
    record: new RegExp(String.raw`${body}\}`, 'y'),
    carried: new RegExp(String.raw`${body},"status":"(?:new|changed|deleted)","from":${str}\}`, 'y'),
  };
}

/** Whether the sticky `re` matches text[start, end) exactly. */
function matchesExactly(re: RegExp, text: string, start: number, end: number): boolean {
  re.lastIndex = start;
  return re.test(text) && re.lastIndex === end;
}
const ANY = recordPatterns(String.raw`[^"\\\x00-\x1f]`);
const ASCII = recordPatterns(String.raw`[\x20\x21\x23-\x5b\x5d-\x7e]`);
