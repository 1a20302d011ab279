import type { Worker } from 'node:worker_threads';
import type { Fs } from '../../io/fs.js';
import { compileMasks } from '../../restore/search.js';
import type { EntryRecord } from '../../meta/entry.js';
import type { CarriedRecord, IncrementJson, IncrementText, RecordText } from '../../meta/increment.js';
import { eachIncrement, type IncrementRead, type RecordsSpec } from '../../store/catalog.js';
import { startWorker, type RoleData } from '../../threads/roles.js';

/**
 * `search` (and `recreate`) read the manifest on this thread while a worker thread (the bundle
 * started again, as for restores) reads and checks every increment.json and picks out the records
 * the masks match (none for recreate), which this thread then decodes: on two cores the two halves
 * of the metadata take the time of one. Each increment is sent as it is read, so once this thread
 * has read the manifest it decodes the first increment's records (a first run's: most of them)
 * while the worker reads the others; sent all at once, they were decoded only after the last was
 * read (W1's `search --mask 'Taxes/**'` over 100 increments: 1,177 → 1,094 ms, 16 alternating
 * rounds; bench/HISTORY.md "What changed in session 31"). Whatever goes wrong with the worker, or
 * with what it sends, this thread reads the increments itself: all of them when the worker fails
 * (an error) or what it sent does not parse (readCatalogSharing gets undefined), those it did not
 * send when it ends without an error before its last message.
 */

export interface CatalogWorkerData extends RoleData<'catalog'> {
  dist: string;
  records: RecordsSpec;
}

export function readIncrementsElsewhere(script: string, dist: string, records: RecordsSpec): Promise<ReadonlyMap<string, IncrementRead> | undefined> {
  return new Promise((resolve) => {
    let w: Worker;
    try {
      const data: CatalogWorkerData = { hardbackRole: 'catalog', dist, records };
      w = startWorker(script, data);
    } catch {
      resolve(undefined);
      return;
    }
    // Taken as they come: whichever arrive while this thread still reads the manifest wait for it,
    // the rest are parsed here while the worker reads on. What the worker did not send (it ended
    // before its last message) the caller reads itself.
    const result = new Map<string, IncrementRead>();
    let garbled = false;
    let done = false;
    w.on('message', (m: Sent[] | typeof DONE) => {
      if (done) return; // the answer is given: nothing may change it
      if (m === DONE) {
        done = true;
        resolve(garbled ? undefined : result); // no need to wait for the thread to end
        return;
      }
      if (garbled) return;
      try {
        for (const one of m) {
          const [id, read] = taken(one);
          result.set(id, read);
        }
      } catch {
        garbled = true; // text that does not parse (it cannot, as made): read here instead
      }
    });
    w.once('error', () => resolve(undefined));
    w.once('exit', () => resolve(garbled || result.size === 0 ? undefined : result));
  });
}

/** The worker's side. */
export function runCatalogWorker(data: CatalogWorkerData, port: { postMessage(v: unknown): void }, fs: Fs): void {
  const want = data.records === 'none' ? () => false : compileMasks(data.records.masks);
  // One message per increment, as each is read: the first (a first run's, often most of the records)
  // can be parsed there while this worker reads the others.
  for (const one of eachIncrement(fs, data.dist, want, { recordText: true })) port.postMessage([sent(one)]);
  port.postMessage(DONE);
}

/** The worker's last message: every increment was sent. */
const DONE = 'done';

/**
 * The records go as text: each list as the JSON text of its records' lines, joined, which this
 * thread parses as one JSON array (each line is valid JSON, whether the layout check let it through
 * unparsed or it was parsed and checked on its own). Sent as objects, a message copied each record
 * field by field with the names of its keys, and this thread built each again from that: W1's
 * `search --mask 'Taxes/**'` over 100 increments (37,606 records) took ~150 ms from the worker's
 * last read to this thread having them, as long as sending them as columns of strings and numbers
 * took. As text, the worker parses no record line the layout check accepts, sends one string a
 * list, and this thread parses them in 70–120 ms. A list of a file parsed whole holds records, and
 * goes as they are. 30 alternating runs of that search, medians: 1.50 → 1.41 s (text output, with
 * table() built cell by cell), 1.58 → 1.49 s (--json); session 26, bench/HISTORY.md.
 */
export type Sent = [id: string, read: IncrementRead, texts?: Partial<Record<ListKey, string[]>>];
type ListKey = 'new' | 'changed' | 'deleted' | 'carried';

/**
 * The most characters of records one text holds: a list longer goes as several texts, as a string
 * holds at most 2^29 - 24 characters (a first run of 2.3 million files: docs/format.md, "Layout").
 */
const TEXT_CHARS = 1 << 28;

export function sent([id, read]: [string, IncrementRead<IncrementText>], textChars = TEXT_CHARS): Sent {
  const json = read.value.json;
  if (json === undefined) return [id, { ...read, value: { ...read.value, json: undefined } }];
  const texts: Partial<Record<ListKey, string[]>> = {};
  // A list of records as text (readIncrementFile, recordText) goes as texts; one of a file
  // parsed whole holds records, and goes as they are.
  const records = <R extends EntryRecord>(key: ListKey, list: readonly (R | RecordText)[]): R[] => {
    let text = 0;
    for (const r of list) if (typeof r === 'string') text++;
    if (text === 0) return list as R[];
    const out: string[] = [];
    let from = 0;
    let chars = 0;
    for (let i = 0; i < list.length; i++) {
      const r = list[i] as R | RecordText;
      const t = typeof r === 'string' ? r : JSON.stringify(r);
      if (i > from && chars + t.length + 1 > textChars) {
        out.push(joined(list, from, i));
        from = i;
        chars = 0;
      }
      chars += t.length + 1;
    }
    out.push(joined(list, from, list.length));
    texts[key] = out;
    return [];
  };
  const { carried, ...frame } = json;
  const bare: IncrementJson = { ...frame, new: records('new', json.new), changed: records('changed', json.changed), deleted: records('deleted', json.deleted) };
  if (carried !== undefined) bare.carried = records('carried', carried);
  return [id, { ...read, value: { ...read.value, json: bare } }, texts];
}

/** Records [from, to) of a list as one text: each its JSON text, joined by commas. */
function joined(list: readonly (EntryRecord | RecordText)[], from: number, to: number): string {
  const part = list.slice(from, to);
  return part.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join(',');
}

export function taken([id, read, texts]: Sent): [string, IncrementRead] {
  const json = read.value.json;
  if (json === undefined || texts === undefined) return [id, read];
  const parsed = <R>(list: string[]): R[] => {
    // Each was checked as a record where it was read.
    const out = JSON.parse(`[${list[0] ?? ''}]`) as R[];
    for (let i = 1; i < list.length; i++) for (const r of JSON.parse(`[${list[i] as string}]`) as R[]) out.push(r);
    return out;
  };
  for (const key of ['new', 'changed', 'deleted'] as const) {
    const list = texts[key];
    if (list !== undefined) json[key] = parsed<EntryRecord>(list);
  }
  if (texts.carried !== undefined) json.carried = parsed<CarriedRecord>(texts.carried);
  return [id, read];
}
