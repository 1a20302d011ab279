import { recordJson, toRecord, type Entry, type EntryRecord } from '../meta/entry.js';
import type { IncrementError, IncrementJson, IncrementSummary } from '../meta/increment.js';
import { INCREMENT_FORMAT } from '../meta/increment.js';
import type { JournalHeader, JournalOp } from './journal.js';

/**
 * The records of the changes that reached the mirror (journal ops), by list (listOf). Recovery
 * writes the same records as it reads the journal again (apply/recover.ts: EntryRecords over the
 * ops, whose text is JSON.stringify's of these: test/unit/records-text.test.ts).
 */
export function recordsFromOps(done: readonly JournalOp[]): { new: EntryRecord[]; changed: EntryRecord[]; deleted: EntryRecord[] } {
  const out = { new: [] as EntryRecord[], changed: [] as EntryRecord[], deleted: [] as EntryRecord[] };
  for (const op of done) out[listOf(op)].push(toRecord(op.entry));
  return out;
}

/** The list of increment.json a change that reached the mirror is recorded in: the one rule, for a run's journal, recovery and the catalog. */
export function listOf(op: JournalOp): 'new' | 'changed' | 'deleted' {
  if (op.op === 'del') return 'deleted';
  if (op.op === 'dirmode') return 'changed';
  if (op.op === 'mkdir') return 'new';
  return op.kind;
}

/** A list written into increment.json: an array, or records produced one by one as they are written. */
export interface RecordList<T> extends Iterable<T> {
  readonly length: number;
}

export interface IncrementLists {
  new: RecordList<EntryRecord>;
  changed: RecordList<EntryRecord>;
  deleted: RecordList<EntryRecord>;
}

/** increment.json as it is written: the lists may be produced while writing (see incrementText). */
export type IncrementDocument = Omit<IncrementJson, 'new' | 'changed' | 'deleted'> & IncrementLists;

/**
 * A run's own list: what it made, each written as its record's JSON when increment.json is written
 * (recordJson), without making the record itself. The items are entries, or what `entryOf` turns
 * into one (a run keeps the paths it stored, and reads each entry back from its state).
 */
export class EntryRecords<T = Entry> implements RecordList<EntryRecord> {
  private readonly items: RecordList<T>;
  private readonly entryOf: (item: T) => Entry;
  constructor(items: RecordList<T>, entryOf?: (item: T) => Entry) {
    this.items = items;
    this.entryOf = entryOf ?? ((item) => item as unknown as Entry);
  }
  get length(): number {
    return this.items.length;
  }
  *[Symbol.iterator](): Iterator<EntryRecord> {
    for (const item of this.items) yield toRecord(this.entryOf(item));
  }
  *json(): Generator<string> {
    for (const item of this.items) yield recordJson(this.entryOf(item));
  }
}

function* jsonOf(list: Iterable<unknown>): Generator<string> {
  if (list instanceof EntryRecords) yield* list.json();
  else for (const v of list) yield JSON.stringify(v);
}

export function buildIncrementJson(args: {
  header: JournalHeader;
  previous: string | null;
  /** The records of the changes that reached the mirror (recordsFromOps, or a run's own lists). */
  lists: IncrementLists;
  errors: IncrementError[];
  skipped?: { path: string; kind: string }[];
  bytesCopied: number;
  finished: string | null;
  complete: boolean;
  version: string;
  recoveredAt?: string;
}): IncrementDocument {
  const { lists } = args;
  const summary: IncrementSummary = {
    new: lists.new.length,
    changed: lists.changed.length,
    deleted: lists.deleted.length,
    errors: args.errors.length,
    bytes_copied: args.bytesCopied,
  };
  // The fields known when a run starts come first, then the lists, then what only its end knows:
  // a first run writes its records as it stores them (StreamedIncrement).
  const json = {
    format: INCREMENT_FORMAT,
    id: args.header.id,
    profile: args.header.profile,
    source: args.header.source,
    started: args.header.started,
    link_mode: args.header.link_mode,
    hardback_version: args.version,
    previous: args.previous,
    new: lists.new,
    changed: lists.changed,
    deleted: lists.deleted,
    errors: args.errors,
  } as IncrementDocument;
  if (args.skipped !== undefined && args.skipped.length > 0) json.skipped = args.skipped;
  json.finished = args.finished;
  json.complete = args.complete;
  json.summary = summary;
  if (args.recoveredAt !== undefined) json.interrupted = { recovered_at: args.recoveredAt };
  return json;
}

const isList = (v: unknown): v is RecordList<unknown> =>
  typeof v === 'object' && v !== null && Symbol.iterator in v && typeof (v as { length?: unknown }).length === 'number';

/**
 * increment.json as text, piece by piece: the frame indented, each record on one line — readable with
 * any pager, a third of the size (and time) of indenting every field of 100k records, and written
 * as it is produced (writeFileAtomic), so a run never holds all of it in memory.
 */
export function* incrementText(json: IncrementDocument | IncrementJson): Generator<string> {
  yield '{\n';
  yield* fieldsText(json, Object.keys(json) as (keyof IncrementDocument)[], true);
  yield '}\n';
}

/** The lines of `keys`' fields; a comma after each but a closing one. */
function* fieldsText(json: IncrementDocument | IncrementJson, keys: readonly (keyof IncrementDocument)[], closes: boolean): Generator<string> {
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k] as keyof IncrementDocument;
    const value: unknown = json[key];
    const comma = closes && k === keys.length - 1 ? '' : ',';
    if (isList(value)) {
      if (value.length === 0) {
        yield ` ${JSON.stringify(key)}: []${comma}\n`;
        continue;
      }
      yield ` ${JSON.stringify(key)}: [\n`;
      let first = true;
      for (const line of jsonOf(value)) {
        yield `${first ? '' : ',\n'}  ${line}`;
        first = false;
      }
      yield `\n ]${comma}\n`;
    } else yield ` ${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}\n`;
  }
}

/**
 * A first run's increment.json, written while the run stores its entries: the fields before `new`
 * when it starts, each new record as it is stored (`add`), the rest at its end (`finish`). The text
 * is incrementText's for the same document. Produced at the end instead, the 100k records of a first
 * run held its main thread ~0.6 s after its last copy, each manifest line parsed again to make its
 * record (bench/HISTORY.md, "What changed in session 15").
 */
export class StreamedIncrement {
  private readonly head: string;
  private count = 0;
  /** `start`: the document as the run starts (its lists are not written: only `add` adds records). */
  constructor(
    private readonly out: { write(piece: string): void },
    start: IncrementDocument,
  ) {
    const keys = Object.keys(start) as (keyof IncrementDocument)[];
    this.head = [...fieldsText(start, keys.slice(0, keys.indexOf('new')), false)].join('');
    out.write(`{\n${this.head}`);
  }

  add(entry: Entry): void {
    // The list's first line and the separators as fieldsText writes them.
    this.out.write(`${this.count++ === 0 ? ' "new": [\n' : ',\n'}  ${recordJson(entry)}`);
  }

  /** The rest of `json`, whose fields before `new` must be those written at the start, and whose `new` list those added. */
  finish(json: IncrementDocument): void {
    const keys = Object.keys(json) as (keyof IncrementDocument)[];
    const at = keys.indexOf('new');
    if ([...fieldsText(json, keys.slice(0, at), false)].join('') !== this.head || json.new.length !== this.count) {
      throw new Error(`increment ${json.id}: the document to finish is not the one streamed`);
    }
    const { out } = this;
    out.write(this.count === 0 ? ' "new": [],\n' : '\n ],\n');
    for (const piece of fieldsText(json, keys.slice(at + 1), true)) out.write(piece);
    out.write('}\n');
  }
}
