import { keyHashes, pathHashes } from './line-hashes.js';
import { widened } from './state-table.js';

/**
 * The last state as the scan's worker compares with it: per manifest line, hashes only, no text.
 *
 * The worker of a scan on two threads (scan/parallel.ts) only asks, for each entry of its share,
 * whether the manifest records that path with that quick key. Read as text, its share of W1's
 * manifest (24 MB, 104,000 lines, every line decoded to find which are its share's) took it 77–110
 * ms of a 0.6 s no-change run, before it could walk. The manifest's index (manifest-index.ts)
 * carries, for each line of the base, its path's hash (the one StateTable's buckets use), a second
 * hash of the path, and two hashes of its quick key (store/line-hashes.ts): what a comparison needs,
 * 16 bytes a line read straight into typed arrays. The base itself is still read, to check its
 * CRC-32 against the index's (the index is a cache, trusted to the byte), but not decoded; a delta
 * is read as text and applied as StateTable applies it.
 *
 * A path is found by its two 32-bit hashes, and is recorded unchanged when both 32-bit hashes of
 * its quick key are the line's too: a changed entry taken for unchanged needs 64 bits of key hash to
 * collide, ~5e-20 a changed entry (the size-and-mtime rule that decides "changed" is far less exact
 * than that). Two paths of the base with the same two hashes would be one slot here: the state is
 * refused then (DuplicateHashes), and the worker reads the manifest as text. A path not recorded
 * that has a recorded one's two hashes is taken for it (~5e-15 a new path at 100k recorded): found
 * unchanged only if its key's hashes are that one's too, but marked found all the same when it is
 * sent (markPath), which would hide the recorded one's deletion. The second hashes are keyed by
 * the base's CRC-32, so such names cannot be made without reading the manifest.
 *
 * The slots are numbered as StateTable numbers them for the same manifest (the base's lines in
 * order, then each path a delta adds, in its order; a deleted path keeps its slot and takes it back
 * when stored again), so the slots the worker marks found are the main thread's slots too
 * (StateComparison.foundByWorker), where a worker reading text sends the paths it did not find.
 */
export class HashedState {
  private n: number;
  private liveCount: number;
  /** Per slot: the path's hash (StateTable's), the path's second hash, and whether it is live. */
  private hashes: Int32Array;
  private checks: Int32Array;
  private live: Uint8Array;
  /** The quick key's two hashes, slot s's at 2s and 2s + 1 (as the index holds them). */
  private keys: Int32Array;
  /** Open addressing, slot + 1 per bucket (0 empty), at most half full. */
  private buckets: Int32Array;
  /** A path's two hashes, as findPath last computed them. */
  private readonly scratch = new Int32Array(2);

  /**
   * A state of `n` base lines, their columns as an index holds them: `hashes` and `checks` `n`
   * long, `keys` 2n (A then B per line); `seed` the base's CRC-32 (line-hashes.ts). Throws
   * DuplicateHashes when two lines have the same two path hashes.
   */
  constructor(
    hashes: Int32Array,
    checks: Int32Array,
    keys: Int32Array,
    readonly seed: number,
  ) {
    const n = hashes.length;
    if (checks.length !== n || keys.length !== 2 * n) throw new Error('hashed state: columns of different lengths');
    this.n = n;
    this.liveCount = n;
    const room = Math.max(1024, Math.ceil(n * 1.25));
    this.hashes = new Int32Array(room);
    this.hashes.set(hashes);
    this.checks = new Int32Array(room);
    this.checks.set(checks);
    this.keys = new Int32Array(2 * room);
    this.keys.set(keys);
    this.live = new Uint8Array(room).fill(1, 0, n);
    this.buckets = new Int32Array(0);
    this.rehash(room);
  }

  /** Live paths. */
  size(): number {
    return this.liveCount;
  }

  /** Slots so far (live or not): what the main thread's table numbers for the same manifest. */
  slots(): number {
    return this.n;
  }

  /** A delta's line for `path`, its quick key text[keyStart, keyEnd): the path's slot is taken back, or a new one added. */
  put(path: string, text: string, keyStart: number, keyEnd: number): void {
    let slot = this.findPath(path);
    if (slot < 0) {
      if (this.n === this.hashes.length) this.grow();
      slot = this.n++;
      // The path's hashes, as findPath left them.
      this.hashes[slot] = this.scratch[0] as number;
      this.checks[slot] = this.scratch[1] as number;
      this.insert(slot);
    }
    keyHashes(text, keyStart, keyEnd, this.seed, this.keys, 2 * slot);
    if (this.live[slot] === 0) this.liveCount++;
    this.live[slot] = 1;
  }

  /** A delta's deletion of `path`. */
  delete(path: string): void {
    const slot = this.findPath(path);
    if (slot >= 0 && this.live[slot] === 1) {
      this.live[slot] = 0;
      this.liveCount--;
    }
  }

  /** One comparison of the scan's walk with this state. */
  compare(): HashedComparison {
    return new HashedComparison(this);
  }

  /** @internal The live slot of `path`, -1 when none. */
  liveSlot(path: string): number {
    const slot = this.findPath(path);
    return slot >= 0 && this.live[slot] === 1 ? slot : -1;
  }
  /** @internal The slot (live or not) of `path`, -1 when it never had one. */
  findPath(path: string): number {
    pathHashes(path, 0, path.length, this.seed, this.scratch, 0);
    return this.findHashed(this.scratch[0] as number, this.scratch[1] as number);
  }
  /** @internal Whether `slot` is live and recorded with the quick key whose hashes are a and b. */
  keyAt(slot: number, a: number, b: number): boolean {
    return this.live[slot] === 1 && this.keys[2 * slot] === a && this.keys[2 * slot + 1] === b;
  }
  /** @internal Whether `slot` is a slot of the path whose hashes are h and c. */
  isPathOf(slot: number, h: number, c: number): boolean {
    return slot < this.n && this.hashes[slot] === h && this.checks[slot] === c;
  }
  /** @internal The slot (live or not) of the path whose hashes are h and c, -1 when it never had one. */
  findHashed(h: number, c: number): number {
    const mask = this.buckets.length - 1;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const v = this.buckets[b] as number;
      if (v === 0) return -1;
      if (this.hashes[v - 1] === h && this.checks[v - 1] === c) return v - 1;
    }
  }

  private insert(slot: number): void {
    const mask = this.buckets.length - 1;
    const h = this.hashes[slot] as number;
    const c = this.checks[slot] as number;
    let b = h & mask;
    for (let v = this.buckets[b] as number; v !== 0; b = (b + 1) & mask, v = this.buckets[b] as number) {
      if (this.hashes[v - 1] === h && this.checks[v - 1] === c) throw new DuplicateHashes();
    }
    this.buckets[b] = slot + 1;
  }
  private rehash(room: number): void {
    this.buckets = new Int32Array(2 ** Math.ceil(Math.log2(room * 2)));
    for (let slot = 0; slot < this.n; slot++) this.insert(slot);
  }
  private grow(): void {
    const room = Math.ceil(this.hashes.length * 1.5);
    this.hashes = widened(this.hashes, room);
    this.checks = widened(this.checks, room);
    this.live = widened(this.live, room);
    this.keys = widened(this.keys, 2 * room);
    this.rehash(room);
  }
}

/** The scan worker's comparison: marks, per slot, what its walk found exactly as recorded (and what it sent). */
export class HashedComparison {
  /** One per slot of the state when the comparison began; sent to the main thread as they are. */
  readonly marks: Uint8Array;
  /** The slot after the last one found: the next path the walk asks for, most often (StateComparison's rule). */
  private next = 0;
  /** The path's two hashes and the key's two, of the entry asked about. */
  private readonly hashed = new Int32Array(4);
  constructor(private readonly state: HashedState) {
    this.marks = new Uint8Array(state.slots());
  }
  /** Whether `path` is recorded with exactly `key` (then marked). */
  hasQuickKey(path: string, key: string): boolean {
    const s = this.state;
    const hashed = this.hashed;
    pathHashes(path, 0, path.length, s.seed, hashed, 0);
    keyHashes(key, 0, key.length, s.seed, hashed, 2);
    const h = hashed[0] as number;
    const c = hashed[1] as number;
    const slot = s.isPathOf(this.next, h, c) ? this.next : s.findHashed(h, c);
    if (slot < 0) return false;
    this.next = slot + 1;
    if (!s.keyAt(slot, hashed[2] as number, hashed[3] as number)) return false;
    if (slot < this.marks.length) this.marks[slot] = 1;
    return true;
  }
  /** Marks `path` found (an entry the worker sends: the plan compares it). */
  markPath(path: string): void {
    const slot = this.state.liveSlot(path);
    if (slot >= 0 && slot < this.marks.length) this.marks[slot] = 1;
  }
}

/** Two lines of a base with the same two path hashes: the state cannot tell them apart. */
export class DuplicateHashes extends Error {
  constructor() {
    super('two paths of the manifest have the same hashes');
  }
}
