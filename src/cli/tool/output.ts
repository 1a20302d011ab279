import type { Writable } from 'node:stream';
import type { Entry } from '../../meta/entry.js';
import { dateFromNs, isoFromNs } from '../../meta/entry.js';
import { timeOfId } from '../../store/ids.js';
import type { ContentSource, Version } from '../../restore/state-at.js';
import { EXIT, type ExitCode } from '../../io/errors.js';
import { VERSION } from '../../version.js';
import { humanBytes, localTime } from '../format.js';
import type { ToolContext } from './context.js';

/** Rows as aligned columns; `right` lists the columns aligned to the right (numbers). */
export function table(rows: readonly (readonly string[])[], right: readonly number[] = []): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) {
      const len = (r[i] as string).length;
      if (!((widths[i] ?? -1) >= len)) widths[i] = len;
    }
  }
  // Built cell by cell (a search writes one table per path found: 31,000 of them for a third of W1).
  let out = '';
  for (const r of rows) {
    let line = '';
    for (let i = 0; i < r.length; i++) {
      const c = r[i] as string;
      if (i > 0) line += '  ';
      line += right.includes(i) ? c.padStart(widths[i] as number) : i === r.length - 1 ? c : c.padEnd(widths[i] as number);
    }
    out += `${line.trimEnd()}\n`;
  }
  return out;
}

/** The label a content source gets in text and JSON (`content`). */
export function contentLabel(s: ContentSource): 'increment' | 'mirror' | 'metadata' | 'not-recoverable' | 'unavailable' {
  if (s.kind === 'unavailable') return s.why === 'untracked' ? 'not-recoverable' : 'unavailable';
  return s.kind;
}

/** Increment times, once per increment (a search shows thousands of versions of a hundred increments). */
const isoTimes = new Map<string, string | null>();
const localTimes = new Map<string, string>();

function isoTimeOf(id: string): string | null {
  let iso = isoTimes.get(id);
  if (iso === undefined) isoTimes.set(id, (iso = timeOfId(id)?.toISOString() ?? null));
  return iso;
}

export function timeOf(id: string | undefined): string {
  if (id === undefined) return '';
  let local = localTimes.get(id);
  if (local === undefined) {
    const t = timeOfId(id);
    localTimes.set(id, (local = t === undefined ? '' : localTime(t)));
  }
  return local;
}

function sizeOf(e: Entry): string {
  return e.type === 'file' ? humanBytes(e.size) : e.type === 'dir' ? 'folder' : `→ ${e.target ?? ''}`;
}

/** One entry's fields in JSON output (docs/tool.md, "Entry"). */
export function entryJson(e: Entry): Record<string, unknown> {
  const j: Record<string, unknown> = {
    type: e.type,
    size: e.size,
    mtime: isoFromNs(e.mtime_ns),
    mtime_ns: e.mtime_ns,
    mode: e.mode,
    tracked: e.tracked,
  };
  if (e.sha256 !== undefined) j.sha256 = e.sha256;
  if (e.target !== undefined) j.target = e.target;
  return j;
}

/** One version in JSON output (docs/tool.md, "Version"). */
export function versionJson(v: Version): Record<string, unknown> {
  return {
    increment: v.id ?? null,
    time: v.id === undefined ? null : isoTimeOf(v.id),
    status: v.status,
    carried: v.carried,
    ...entryJson(v.entry),
    content: contentLabel(v.source),
  };
}

/**
 * Text rows for versions: time, increment, status, size, mtime, content (and the sha256 before the
 * content with `sha`); `label` gives a first cell for each.
 */
export function versionRows(versions: readonly Version[], opts: { sha: boolean; label?: (i: number) => string }): string[][] {
  return versions.map((v, i) => {
    const row = [timeOf(v.id), v.id ?? '(unknown)', v.status, sizeOf(v.entry), localTime(dateFromNs(v.entry.mtime_ns))];
    if (opts.label !== undefined) row.unshift(opts.label(i));
    if (opts.sha) row.push(v.entry.sha256 ?? '');
    row.push(contentLabel(v.source));
    return row;
  });
}

/** The JSON document every command prints with --json: the envelope and the command's own fields. */
export function printJson(ctx: ToolContext | undefined, command: string, code: ExitCode, body: Record<string, unknown>, out: Writable): void {
  out.write(`${JSON.stringify(envelope(ctx, command, code, body), null, 2)}\n`);
}

function envelope(ctx: ToolContext | undefined, command: string, code: ExitCode, body: Record<string, unknown>): Record<string, unknown> {
  return {
    hardback: VERSION,
    command,
    backup: ctx?.dist ?? null,
    source: ctx?.src ?? null,
    exit: code,
    problems: ctx?.catalog.problems ?? [],
    ...body,
  };
}

/**
 * Characters of output gathered before one write (the write is made once they are reached, with the
 * piece that reached them): its text and the bytes written stay under V8's largest ordinary object
 * (128 KiB) for mostly ASCII text in pieces of a few hundred characters, as search's are, so they
 * take memory already in use, not fresh pages (~4 µs a page fault here). A megabyte at a time made
 * 3,300 more page faults in W1's `Taxes/**` over 100 increments, and its text took 226–345 ms to
 * make and write against 203–272 ms (8 alternating runs each; session 19, bench/HISTORY.md).
 */
export const WRITE_CHUNK = 1 << 15;

/**
 * Output gathered WRITE_CHUNK characters at a time: `write` appends, `end` writes what is left. Where
 * stdout is a file (or /dev/null) each write to it is a write(2) of its own: a text search that wrote
 * two lines per path made 62,000 of them for 31,000 paths, 0.29 s of 1.5 s under the profiler (the
 * same search, session 17, a slow spell of the host: bench/HISTORY.md); it now makes ~170. Both
 * return false, as a stream's write does, when `out` holds more than it wants: wait for drained(out)
 * before writing more.
 */
export function chunkedOutput(out: Writable): { write(text: string): boolean; end(): boolean } {
  let chunk = '';
  return {
    write(text) {
      chunk += text;
      if (chunk.length < WRITE_CHUNK) return true;
      const full = chunk;
      chunk = '';
      return out.write(full);
    },
    end() {
      const rest = chunk;
      chunk = '';
      return rest.length === 0 ? !out.writableNeedDrain : out.write(rest);
    },
  };
}

/**
 * Resolves once `out` has passed on what it holds ('drain'), at once when it holds nothing waiting;
 * rejects when it can take nothing more (an error, closed, or ended meanwhile). A search streams its
 * results (printJsonList, chunkedOutput): written into a pipe faster than the reader took them
 * (`search … | less`), they all waited in this process's memory, as the stream's queue: 108 MB of
 * JSON for W1's every path over 100 increments into a reader that waited 3 s first took the peak
 * RSS to 576 MiB, where the same into /dev/null took 305 MiB. Waiting for the reader keeps what
 * waits to about one write.
 */
export function drained(out: Writable): Promise<void> {
  if (!out.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const events = { drain: () => done(), error: (err: Error) => done(err), close: () => gone('closed'), finish: () => gone('ended') };
    const done = (err?: Error) => {
      for (const [name, fn] of Object.entries(events)) out.off(name, fn);
      if (err === undefined) resolve();
      else reject(err);
    };
    // A reader that went away: nothing more can be written (run-main handles stdout's EPIPE first).
    const gone = (how: string) => done(new Error(`the output was ${how} before everything was written`));
    for (const [name, fn] of Object.entries(events)) out.on(name, fn);
  });
}

/**
 * printJson for a document whose last field is a long list (search results): the same text, but
 * made into JSON and written a batch of items at a time, so the whole document never exists at once
 * (at 30k results, building it all first was a tenth of a search). The items are taken from
 * `items` a batch at a time too: a search's come from eachSearchResult as they are found.
 */
export async function printJsonList<T>(
  ctx: ToolContext | undefined,
  command: string,
  code: ExitCode,
  body: Record<string, unknown>,
  list: { key: string; items: Iterable<T>; json: (item: T) => unknown },
  out: Writable,
): Promise<void> {
  const items = list.items[Symbol.iterator]();
  let batch = nextBatch(items);
  if (batch.length === 0) {
    printJson(ctx, command, code, { ...body, [list.key]: [] }, out);
    return;
  }
  // The document with a one-item list: the text before and after that item is the frame.
  const marker = `hardback-list-${process.pid}-${Date.now()}`;
  const frame = JSON.stringify(envelope(ctx, command, code, { ...body, [list.key]: [marker] }), null, 2);
  const at = frame.lastIndexOf(JSON.stringify(marker));
  // Every write waits for a reader that asks to (drained).
  const write = async (text: string) => {
    if (!out.write(text)) await drained(out);
  };
  try {
    await write(frame.slice(0, at));
    for (let first = true; batch.length > 0; first = false, batch = nextBatch(items)) {
      // Items two levels deep, as in the document: [[item, item, …]] puts them there. Each batch's
      // text is written as it is: joined to others first, it was copied once more to be written.
      const nested = JSON.stringify([batch.map((item) => list.json(item))], null, 2);
      if (!first) await write(',\n    ');
      await write(nested.slice(10, nested.length - 6));
    }
  } finally {
    items.return?.(); // a write that failed leaves the rest untaken: the iterator is told so
  }
  await write(`${frame.slice(at + JSON.stringify(marker).length)}\n`);
}

/** The next JSON_BATCH items (fewer at the end, none when there are no more). */
function nextBatch<T>(items: Iterator<T>): T[] {
  const batch: T[] = [];
  for (let r = items.next(); !r.done; r = items.next()) if (batch.push(r.value) === JSON_BATCH) break;
  return batch;
}

/**
 * Items made into JSON by one call: ~32 KB of text a batch (a search result is ~1 KB). One call per
 * item cost half again as much (31,000 results: 156 ms, against 95–113 ms by 100 to 2,000 in a
 * warm loop; session 18). In the program, where each batch's text is new memory, the size counts
 * too: a text over V8's largest ordinary object (128 KiB) gets fresh pages of its own, and 256 items
 * (~250 KB) made 15,000 more page faults (~4 µs each here) than 32 in W1's `Taxes/** --json` over
 * 100 increments; the batches took 540–708 ms against 321–467 ms (5 alternating runs each, a slow
 * spell of the host; bench/HISTORY.md, session 19). 16 to 48 were alike.
 */
const JSON_BATCH = 32;

/** Metadata problems on stderr (text mode); they make every command exit 1 (SPEC §6 "Hostile metadata"). */
export function reportProblems(ctx: ToolContext): ExitCode {
  for (const p of ctx.catalog.problems) ctx.io.stderr.write(`backup-tool: problem: ${p}\n`);
  return ctx.catalog.problems.length > 0 ? EXIT.failure : EXIT.ok;
}
