import type { StateEntry } from '../meta/entry.js';
import { LineStore } from '../store/line-store.js';
import { TopLevelCounts, type EncodedState } from '../store/manifest.js';
import { EntryRecords, type IncrementLists } from '../store/records.js';
import { decodeLine, encode, type StateTable } from '../store/state-table.js';

/**
 * What a run changed, as the applier records it: the state it leaves (the next manifest) and the
 * lists of its increment.json. Only what reached the mirror is recorded (apply.ts).
 */
export interface RunState {
  /** The folder recorded at `path`; undefined when none is (or something else is there). */
  folder(path: string): StateEntry | undefined;
  /** `entry` reached the mirror, as a new or a changed entry (folders too). */
  stored(kind: 'new' | 'changed', entry: StateEntry): void;
  /** `entry` left the mirror. */
  deleted(entry: StateEntry): void;
  /** How many entries each list of increment.json holds. */
  counts(): { new: number; changed: number; deleted: number };
  /** increment.json's lists, produced as they are written. */
  lists(): IncrementLists;
  /** The new state, for writeManifest. */
  manifest(): StateTable | EncodedState;
  /** The run stopped on a fault: what this state holds is dropped now (before recovery reads the manifest again beside it), and it is not used again. */
  release(): void;
}

/**
 * A run that changes the last state: the table read from the manifest is changed in place (a copy of
 * 100k entries cost time and memory for nothing). The entries it stores are kept as manifest lines
 * (StateTable.keep) and the lists hold their paths (the deleted list, their recorded lines), so it
 * keeps no object per entry it stored or deleted.
 */
export class UpdatedState implements RunState {
  private readonly made = { new: [] as string[], changed: [] as string[], deleted: [] as string[] };
  constructor(readonly table: StateTable) {}
  folder(path: string): StateEntry | undefined {
    const e = this.table.get(path);
    return e?.type === 'dir' ? e : undefined;
  }
  stored(kind: 'new' | 'changed', entry: StateEntry): void {
    this.table.keep(entry);
    this.made[kind].push(entry.path);
  }
  deleted(entry: StateEntry): void {
    // The entry's recorded line, not the object: a slice of the manifest's text is ~32 bytes of heap
    // where the entry is ~300 (a moved folder of 29,564 files held 9 MB of them to the end).
    this.made.deleted.push(this.table.encodedLine(entry.path) ?? encode(entry));
    this.table.delete(entry.path);
  }
  counts(): { new: number; changed: number; deleted: number } {
    return { new: this.made.new.length, changed: this.made.changed.length, deleted: this.made.deleted.length };
  }
  lists(): IncrementLists {
    const stored = (path: string): StateEntry => this.table.get(path) as StateEntry;
    return { new: new EntryRecords(this.made.new, stored), changed: new EntryRecords(this.made.changed, stored), deleted: new EntryRecords(this.made.deleted, decodeLine) };
  }
  manifest(): StateTable {
    return this.table;
  }
  release(): void {
    this.table.release();
    for (const list of Object.values(this.made)) list.length = 0;
  }
}

/**
 * A first run (nothing recorded before): every entry it stores is new, and it stores each path once,
 * so its state and its list of new entries are the same lines, in the order they were stored. They
 * are kept outside the heap (LineStore), ~250 bytes each; only folders are kept as objects (the
 * applier asks for them). A 1M-file first run held ~550 bytes of heap per entry, and more in the
 * heap's growth margin (bench/HISTORY.md, "What changed in session 5").
 */
export class NewState implements RunState, EncodedState {
  private lines = new LineStore();
  private readonly folders = new Map<string, StateEntry>();
  private readonly top = new TopLevelCounts();
  /** Where each stored entry's record goes as it is stored (the run's increment.json), if anywhere. */
  private records: { add(entry: StateEntry): void } | undefined;
  get size(): number {
    return this.lines.count;
  }
  folder(path: string): StateEntry | undefined {
    return this.folders.get(path);
  }
  stored(kind: 'new' | 'changed', entry: StateEntry): void {
    if (kind !== 'new') throw new Error(`a first run stores only new entries (${entry.path})`);
    this.lines.push(encode(entry));
    if (entry.type === 'dir') this.folders.set(entry.path, entry);
    this.top.add(entry.path);
    this.records?.add(entry);
  }
  /** From now on, each entry stored is also added to `records` (store/records.ts StreamedIncrement). */
  streamTo(records: { add(entry: StateEntry): void }): void {
    this.records = records;
  }
  deleted(entry: StateEntry): void {
    throw new Error(`a first run deletes nothing (${entry.path})`);
  }
  counts(): { new: number; changed: number; deleted: number } {
    return { new: this.lines.count, changed: 0, deleted: 0 };
  }
  lists(): IncrementLists {
    const lines = this.lines;
    const all = { length: lines.count, [Symbol.iterator]: () => lines.lines() };
    return { new: new EntryRecords(all, decodeLine), changed: [], deleted: [] };
  }
  manifest(): NewState {
    return this;
  }
  release(): void {
    this.lines = new LineStore();
    this.folders.clear();
  }
  topCounts(): Record<string, number> | undefined {
    return this.top.result();
  }
  chunks(): Iterable<Uint8Array> {
    return this.lines.chunks();
  }
}
