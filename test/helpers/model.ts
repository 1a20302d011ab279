/**
 * A model of a source folder for randomized backup tests: random edits are applied to a real tree
 * on disk AND to an in-memory model of it; the model then says what the selection is (independently
 * of src/select and src/scan) and what a backup run must report.
 *
 * Reusable pieces:
 * - `SourceModel`: the tree, its random edits (`randomBatch`), `checkDisk()` (the model agrees with
 *   the disk), `selection()` (a `Snapshot` of what MODEL_RULES select).
 * - `Snapshot` / `ModelRun`: JSON-serialisable records of the selection at each run (path → type,
 *   content hash, mode, target, …), meant for time-travel tests: after the backups, `recreate --at
 *   run.id` must produce run.snapshot's tracked files, symlinks and folders.
 * - `expectedChanges(prev, cur)`: the increment lists a run must write between two snapshots.
 * - `driveModel(…)`: the whole loop (edit batch, backup, checks) returning the per-run records.
 */
import * as fs from 'node:fs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { SelectionRules } from '../../src/select/rules.js';

/** The selection the model implements: a track rule and an exclude rule of each kind. */
export const MODEL_RULES: SelectionRules = {
  track_dirs: ['keep'],
  track_files: ['**/*.md'],
  exclude_dirs: ['cache'],
  exclude_files: ['*.tmp'],
};

const baseName = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const parentOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');

/** MODEL_RULES, written out by hand (SPEC §1 and the decisions documented in src/select/rules.ts). */
export function modelSelected(path: string, type: EntryKind): boolean {
  const segs = path.split('/');
  const dirSegs = type === 'dir' ? segs : segs.slice(0, -1);
  if (dirSegs.includes('cache')) return false; // exclude_dirs "cache": a folder name at any depth
  if (type !== 'dir' && baseName(path).endsWith('.tmp')) return false; // exclude_files "*.tmp": names of non-folders
  return true;
}

export function modelTracked(path: string, type: EntryKind): boolean {
  const inKeep = path === 'keep' || path.startsWith('keep/');
  if (type === 'dir') return inKeep; // track_dirs "keep": the top-level folder and everything in it
  return path.startsWith('keep/') || baseName(path).endsWith('.md'); // track_files "**/*.md"
}

export type EntryKind = 'file' | 'dir' | 'symlink';

/** One entry of a snapshot. Files carry size, sha256 and the exact mtime (ns, decimal string). */
export interface SnapEntry {
  type: EntryKind;
  mode: number;
  tracked: boolean;
  size?: number;
  sha256?: string;
  mtimeNs?: string;
  target?: string;
}

/** The selection at one moment: relative path → entry, keys in code-point order. JSON-serialisable. */
export type Snapshot = Record<string, SnapEntry>;

/** What one backup run saw, for later time-travel checks. */
export interface ModelRun {
  /** 1-based run number. */
  run: number;
  /** The increment the run created; null when it changed nothing. */
  id: string | null;
  status: string;
  snapshot: Snapshot;
}

interface FileNode {
  type: 'file';
  mode: number;
  size: number;
  sha256: string;
  mtimeNs: string;
}
interface DirNode {
  type: 'dir';
  mode: number;
}
interface LinkNode {
  type: 'symlink';
  target: string;
}
type Node = FileNode | DirNode | LinkNode;

/** mulberry32: small, fast, good enough to drive tests, same sequence for the same seed everywhere. */
export function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** HB_SEED from the environment, else a random seed. */
export function seedFromEnv(): number {
  const env = process.env.HB_SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`HB_SEED must be an integer, got ${env}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

const NAMES = [
  'a.txt',
  'b.md',
  'notes.md',
  'x.tmp',
  '.tmp',
  'keep',
  'cache',
  'sub',
  'photos',
  'data.bin',
  'sp ace.txt',
  'a b c',
  'été.txt',
  'Ünïcödé',
  '日本語.md',
  '🙂 smile.txt',
  'README.md',
  'Readme.md',
  '.hidden',
  'x.md',
];
const FILE_MODES = [0o644, 0o600, 0o755, 0o640, 0o444];
const DIR_MODES = [0o755, 0o700, 0o750, 0o775, 0o555];

const IS_ROOT = process.getuid?.() === 0;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export class SourceModel {
  readonly root: string;
  readonly seed: number;
  private readonly rand: () => number;
  private readonly nodes = new Map<string, Node>();
  /** size:mtime_ns → content hash of every version ever written: the move/change heuristic's identity. */
  private readonly keyOwners = new Map<string, string>();
  private clock = 0;
  /** Log of every edit, for replaying a failure by reading. */
  readonly log: string[] = [];

  constructor(root: string, seed: number) {
    this.root = root;
    this.seed = seed;
    this.rand = makeRng(seed);
    fs.mkdirSync(root, { recursive: true });
  }

  // ---- randomness -------------------------------------------------------------------------

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  private pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('pick from an empty list');
    return list[this.int(list.length)] as T;
  }
  private chance(p: number): boolean {
    return this.rand() < p;
  }
  private bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  private randomSize(): number {
    const r = this.rand();
    if (r < 0.08) return 0;
    if (r < 0.85) return 1 + this.int(200);
    return 200 + this.int(40_000);
  }

  // ---- queries ----------------------------------------------------------------------------

  private paths(type?: EntryKind): string[] {
    const out: string[] = [];
    for (const [p, n] of this.nodes) if (type === undefined || n.type === type) out.push(p);
    return out.sort();
  }
  private pickDir(): string {
    return this.pick(['', '', ...this.paths('dir')]);
  }
  private abs(rel: string): string {
    return join(this.root, rel);
  }
  private freshPath(dir: string, preferName?: string): string {
    const prefix = dir === '' ? '' : `${dir}/`;
    if (preferName !== undefined && !this.nodes.has(prefix + preferName)) return prefix + preferName;
    for (let i = 0; i < 20; i++) {
      let name = this.pick(NAMES);
      if (this.chance(0.35)) {
        const dot = name.lastIndexOf('.');
        const tag = `-${this.int(1000)}`;
        name = dot > 0 ? `${name.slice(0, dot)}${tag}${name.slice(dot)}` : `${name}${tag}`;
      }
      if (!this.nodes.has(prefix + name)) return prefix + name;
    }
    return `${prefix}n${this.nodes.size}-${this.int(1e9)}`;
  }

  /** A time no file of this model has had: 2 ms apart, exact at microseconds (what utimes keeps). */
  private uniqueTime(): number {
    this.clock++;
    return 1_600_000_000 + this.clock * 0.002;
  }

  /**
   * Reads a written file's metadata back. If another version already had the same size and mtime
   * (the kernel's coarse clock gives files written in one tick the same mtime), the mtime is moved:
   * the backup's change and move detection assume size+mtime identify a version (SPEC §3).
   */
  private settleFile(rel: string, content: Buffer, mode: number): void {
    const p = this.abs(rel);
    const hash = sha256(content);
    for (;;) {
      const st = fs.lstatSync(p, { bigint: true });
      const key = `${st.size}:${st.mtimeNs}`;
      const owner = this.keyOwners.get(key);
      if (owner === undefined || owner === hash) {
        this.keyOwners.set(key, hash);
        this.nodes.set(rel, { type: 'file', mode, size: content.length, sha256: hash, mtimeNs: st.mtimeNs.toString() });
        return;
      }
      const t = this.uniqueTime();
      fs.utimesSync(p, t, t);
    }
  }

  private writeFile(rel: string, content: Buffer, mode: number): void {
    fs.writeFileSync(this.abs(rel), content);
    fs.chmodSync(this.abs(rel), mode);
    this.settleFile(rel, content, mode);
  }

  private removeTree(rel: string): void {
    fs.rmSync(this.abs(rel), { recursive: true, force: true });
    for (const p of [...this.nodes.keys()]) if (p === rel || p.startsWith(`${rel}/`)) this.nodes.delete(p);
  }

  private randomTarget(): string {
    const existing = this.paths();
    if (existing.length > 0 && this.chance(0.6)) return this.pick(existing);
    return this.pick(['nowhere', '../outside target', '/abs/target', 'dangling/ü x', '.']);
  }

  // ---- edits ------------------------------------------------------------------------------

  private readonly edits: [weight: number, name: string, run: () => boolean][] = [
    [14, 'create-file', () => {
      const rel = this.freshPath(this.pickDir());
      this.writeFile(rel, this.bytes(this.randomSize()), this.pick(FILE_MODES));
      return this.note(`create-file ${rel}`);
    }],
    [8, 'modify-file', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      const old = this.nodes.get(rel) as FileNode;
      let size = this.randomSize();
      if (size === old.size) size++;
      this.writeFile(rel, this.bytes(size), old.mode);
      return this.note(`modify-file ${rel} (${old.size} → ${size} bytes)`);
    }],
    [7, 'modify-same-size', () => {
      const rel = this.pickOf('file', (n) => n.type === 'file' && n.size > 0);
      if (rel === undefined) return false;
      const old = this.nodes.get(rel) as FileNode;
      let content = this.bytes(old.size);
      while (sha256(content) === old.sha256) content = this.bytes(old.size);
      fs.writeFileSync(this.abs(rel), content);
      const t = this.uniqueTime();
      fs.utimesSync(this.abs(rel), t, t);
      this.settleFile(rel, content, old.mode);
      return this.note(`modify-same-size ${rel} (${old.size} bytes, new mtime)`);
    }],
    [4, 'touch', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      const old = this.nodes.get(rel) as FileNode;
      const t = this.uniqueTime();
      fs.utimesSync(this.abs(rel), t, t);
      this.settleFile(rel, fs.readFileSync(this.abs(rel)), old.mode);
      return this.note(`touch ${rel} (same content, new mtime)`);
    }],
    [7, 'delete-file', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      fs.unlinkSync(this.abs(rel));
      this.nodes.delete(rel);
      return this.note(`delete-file ${rel}`);
    }],
    [5, 'rename-file', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      return this.moveTo(rel, this.freshPath(parentOf(rel)), 'rename-file');
    }],
    [6, 'move-file', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      const dir = this.pickDir();
      if (dir === parentOf(rel)) return false;
      return this.moveTo(rel, this.freshPath(dir, baseName(rel)), 'move-file');
    }],
    [4, 'rename-folder', () => {
      const rel = this.pickOf('dir');
      if (rel === undefined) return false;
      const dir = this.chance(0.5) ? parentOf(rel) : this.pickDir();
      if (dir === rel || dir.startsWith(`${rel}/`)) return false;
      return this.moveTo(rel, this.freshPath(dir, this.chance(0.3) ? baseName(rel) : undefined), 'rename-folder');
    }],
    [4, 'chmod-file', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      const node = this.nodes.get(rel) as FileNode;
      const mode = this.pick(FILE_MODES.filter((m) => m !== node.mode));
      fs.chmodSync(this.abs(rel), mode);
      node.mode = mode;
      return this.note(`chmod-file ${rel} ${mode.toString(8)}`);
    }],
    [3, 'chmod-folder', () => {
      const rel = this.pickOf('dir');
      if (rel === undefined) return false;
      const node = this.nodes.get(rel) as DirNode;
      const mode = this.pick(DIR_MODES.filter((m) => m !== node.mode));
      fs.chmodSync(this.abs(rel), mode);
      node.mode = mode;
      return this.note(`chmod-folder ${rel} ${mode.toString(8)}`);
    }],
    [5, 'mkdir', () => {
      const rel = this.freshPath(this.pickDir());
      const mode = this.pick(DIR_MODES);
      fs.mkdirSync(this.abs(rel));
      fs.chmodSync(this.abs(rel), mode);
      this.nodes.set(rel, { type: 'dir', mode });
      return this.note(`mkdir ${rel}`);
    }],
    [2, 'delete-folder', () => {
      const rel = this.pickOf('dir');
      if (rel === undefined) return false;
      this.removeTree(rel);
      return this.note(`delete-folder ${rel}`);
    }],
    [3, 'file-to-folder', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      fs.unlinkSync(this.abs(rel));
      this.nodes.delete(rel);
      fs.mkdirSync(this.abs(rel));
      fs.chmodSync(this.abs(rel), 0o755);
      this.nodes.set(rel, { type: 'dir', mode: 0o755 });
      if (this.chance(0.6)) this.writeFile(this.freshPath(rel), this.bytes(this.randomSize()), 0o644);
      return this.note(`file-to-folder ${rel}`);
    }],
    [2, 'folder-to-file', () => {
      const rel = this.pickOf('dir');
      if (rel === undefined) return false;
      this.removeTree(rel);
      this.writeFile(rel, this.bytes(this.randomSize()), this.pick(FILE_MODES));
      return this.note(`folder-to-file ${rel}`);
    }],
    [3, 'file-to-symlink', () => {
      const rel = this.pickOf('file');
      if (rel === undefined) return false;
      fs.unlinkSync(this.abs(rel));
      const target = this.randomTarget();
      fs.symlinkSync(target, this.abs(rel));
      this.nodes.set(rel, { type: 'symlink', target });
      return this.note(`file-to-symlink ${rel} → ${target}`);
    }],
    [2, 'symlink-to-file', () => {
      const rel = this.pickOf('symlink');
      if (rel === undefined) return false;
      fs.unlinkSync(this.abs(rel));
      this.nodes.delete(rel);
      this.writeFile(rel, this.bytes(this.randomSize()), this.pick(FILE_MODES));
      return this.note(`symlink-to-file ${rel}`);
    }],
    [3, 'symlink', () => {
      const rel = this.freshPath(this.pickDir());
      const target = this.randomTarget();
      fs.symlinkSync(target, this.abs(rel));
      this.nodes.set(rel, { type: 'symlink', target });
      return this.note(`symlink ${rel} → ${target}`);
    }],
    [2, 'retarget-symlink', () => {
      const rel = this.pickOf('symlink');
      if (rel === undefined) return false;
      const old = (this.nodes.get(rel) as LinkNode).target;
      let target = this.randomTarget();
      if (target === old) target = `${old}-2`;
      fs.unlinkSync(this.abs(rel));
      fs.symlinkSync(target, this.abs(rel));
      this.nodes.set(rel, { type: 'symlink', target });
      return this.note(`retarget-symlink ${rel} → ${target}`);
    }],
  ];

  private note(line: string): true {
    this.log.push(line);
    return true;
  }

  private pickOf(type: EntryKind, ok: (n: Node) => boolean = () => true): string | undefined {
    const list = this.paths(type).filter((p) => ok(this.nodes.get(p) as Node));
    return list.length === 0 ? undefined : this.pick(list);
  }

  private moveTo(from: string, to: string, what: string): boolean {
    if (this.nodes.has(to)) return false;
    fs.renameSync(this.abs(from), this.abs(to));
    for (const [p, n] of [...this.nodes]) {
      if (p === from || p.startsWith(`${from}/`)) {
        this.nodes.delete(p);
        this.nodes.set(to + p.slice(from.length), n);
      }
    }
    return this.note(`${what} ${from} → ${to}`);
  }

  /**
   * Fixed entries under `planted/` (a name the random edits never create): an excluded folder, an
   * excluded file, a tracked file, so every kind of selection decision is present at least once.
   */
  plant(): void {
    if (this.nodes.has('planted')) return;
    for (const d of ['planted', 'planted/cache']) {
      fs.mkdirSync(this.abs(d));
      fs.chmodSync(this.abs(d), 0o755);
      this.nodes.set(d, { type: 'dir', mode: 0o755 });
    }
    this.writeFile('planted/cache/inner.txt', Buffer.from('excluded by exclude_dirs'), 0o644);
    this.writeFile('planted/x.tmp', Buffer.from('excluded by exclude_files'), 0o644);
    this.writeFile('planted/kept.md', Buffer.from('tracked by track_files'), 0o644);
    this.writeFile('planted/plain.txt', Buffer.from('included, untracked'), 0o644);
    this.note('plant planted/{cache/inner.txt,x.tmp,kept.md,plain.txt}');
  }

  /**
   * Runs one edit. Without root, folders like 0555 and files like 0444 would refuse the edit: every
   * entry is opened for its owner first and given back its model mode after (a chmod moves no mtime).
   */
  private unlocked(edit: () => boolean): boolean {
    if (IS_ROOT) return edit();
    for (const [p, n] of this.nodes) {
      if (n.type === 'dir' && (n.mode & 0o700) !== 0o700) fs.chmodSync(this.abs(p), n.mode | 0o700);
      if (n.type === 'file' && (n.mode & 0o600) !== 0o600) fs.chmodSync(this.abs(p), n.mode | 0o600);
    }
    try {
      return edit();
    } finally {
      for (const [p, n] of this.nodes) {
        if ((n.type === 'dir' && (n.mode & 0o700) !== 0o700) || (n.type === 'file' && (n.mode & 0o600) !== 0o600)) fs.chmodSync(this.abs(p), n.mode);
      }
    }
  }

  /** Applies `count` random edits (each one changes the disk and the model alike). */
  randomBatch(count: number): void {
    const total = this.edits.reduce((s, [w]) => s + w, 0);
    let done = 0;
    for (let guard = 0; done < count && guard < count * 20; guard++) {
      let r = this.rand() * total;
      let chosen = this.edits[0];
      for (const e of this.edits) {
        r -= e[0];
        if (r < 0) {
          chosen = e;
          break;
        }
      }
      if (chosen !== undefined && this.unlocked(chosen[2])) done++;
    }
  }

  /** The model's view of the whole source (selected or not). */
  all(): Snapshot {
    return this.snapshot(() => true);
  }

  /** The selection under MODEL_RULES, as a backup run must see it. */
  selection(): Snapshot {
    return this.snapshot((p, n) => modelSelected(p, n.type));
  }

  private snapshot(keep: (p: string, n: Node) => boolean): Snapshot {
    const out: Snapshot = {};
    for (const p of this.paths()) {
      const n = this.nodes.get(p) as Node;
      if (!keep(p, n)) continue;
      const tracked = modelTracked(p, n.type);
      if (n.type === 'file') out[p] = { type: 'file', mode: n.mode, tracked, size: n.size, sha256: n.sha256, mtimeNs: n.mtimeNs };
      else if (n.type === 'dir') out[p] = { type: 'dir', mode: n.mode, tracked };
      else out[p] = { type: 'symlink', mode: 0o777, tracked, target: n.target };
    }
    return out;
  }

  /** Reads the source tree from disk: equal to all() unless the model (the test) has a bug. */
  readDisk(): Snapshot {
    const out: Snapshot = {};
    const walk = (rel: string) => {
      for (const name of fs.readdirSync(this.abs(rel))) {
        const r = rel === '' ? name : `${rel}/${name}`;
        const st = fs.lstatSync(this.abs(r), { bigint: true });
        const mode = Number(st.mode & 0o7777n);
        if (st.isDirectory()) {
          out[r] = { type: 'dir', mode, tracked: modelTracked(r, 'dir') };
          walk(r);
        } else if (st.isSymbolicLink()) out[r] = { type: 'symlink', mode, tracked: modelTracked(r, 'symlink'), target: fs.readlinkSync(this.abs(r)) };
        else {
          const content = fs.readFileSync(this.abs(r));
          out[r] = { type: 'file', mode, tracked: modelTracked(r, 'file'), size: content.length, sha256: sha256(content), mtimeNs: st.mtimeNs.toString() };
        }
      }
    };
    walk('');
    return sortKeys(out);
  }
}

export function sortKeys(s: Snapshot): Snapshot {
  const out: Snapshot = {};
  for (const k of Object.keys(s).sort()) out[k] = s[k] as SnapEntry;
  return out;
}

/** An increment.json record reduced to what the model predicts. */
export interface ExpectedRecord {
  path: string;
  type: EntryKind;
  tracked: boolean;
  sha256?: string;
  target?: string;
  mode: number;
}

const toExpected = (path: string, e: SnapEntry): ExpectedRecord => {
  const r: ExpectedRecord = { path, type: e.type, tracked: e.tracked, mode: e.mode };
  if (e.sha256 !== undefined) r.sha256 = e.sha256;
  if (e.target !== undefined) r.target = e.target;
  return r;
};

/**
 * The increment lists a run must write, from the selection at the previous run to the current one
 * (SPEC §3's change predicate; a type change is a deletion plus a new entry).
 */
export function expectedChanges(prev: Snapshot, cur: Snapshot): { new: ExpectedRecord[]; changed: ExpectedRecord[]; deleted: ExpectedRecord[] } {
  const out = { new: [] as ExpectedRecord[], changed: [] as ExpectedRecord[], deleted: [] as ExpectedRecord[] };
  for (const [p, c] of Object.entries(cur)) {
    const o = prev[p];
    if (o === undefined) out.new.push(toExpected(p, c));
    else if (o.type !== c.type) {
      out.deleted.push(toExpected(p, o));
      out.new.push(toExpected(p, c));
    } else if (isChanged(o, c)) out.changed.push(toExpected(p, c));
  }
  for (const [p, o] of Object.entries(prev)) if (cur[p] === undefined) out.deleted.push(toExpected(p, o));
  const byPath = (a: ExpectedRecord, b: ExpectedRecord) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  out.new.sort(byPath);
  out.changed.sort(byPath);
  out.deleted.sort(byPath);
  return out;
}

function isChanged(o: SnapEntry, c: SnapEntry): boolean {
  if (o.tracked !== c.tracked) return true;
  if (c.type === 'file') return o.size !== c.size || o.mtimeNs !== c.mtimeNs || o.mode !== c.mode;
  if (c.type === 'dir') return o.mode !== c.mode;
  return o.target !== c.target;
}

/** One step of driveModel: the selection at the previous run and now. */
export interface DriveStep {
  run: number;
  model: SourceModel;
  prev: Snapshot;
  cur: Snapshot;
}

export interface DriveOptions {
  /** The source folder to create and edit. */
  src: string;
  seed: number;
  batches: number;
  /** Edits per batch, or per run number (a run of few edits writes the manifest as a delta). */
  editsPerBatch: number | ((run: number) => number);
  /** Edits before the first run (default 40); `planted/` is added after them. */
  firstBatch?: number;
  /** Every Nth batch makes no edit, so its run must change nothing (default 9; 0 = never). */
  emptyEvery?: number;
  /** One backup of `src`: the increment it created (null: none) and its status. */
  backup: (step: DriveStep) => Promise<{ id: string | null; status: string }>;
  /** Checks after each run. */
  afterRun?: (step: DriveStep & { id: string | null; status: string }) => void | Promise<void>;
}

/**
 * Random edit batches with a backup after each: returns the model and, per run, the increment id
 * and the selection the run saw (ModelRun: JSON-serialisable, for time-travel checks). Throws
 * (naming the seed) if the model and the disk ever disagree.
 */
export async function driveModel(o: DriveOptions): Promise<{ model: SourceModel; runs: ModelRun[] }> {
  const model = new SourceModel(o.src, o.seed);
  const runs: ModelRun[] = [];
  const emptyEvery = o.emptyEvery ?? 9;
  let prev: Snapshot = {};
  for (let run = 1; run <= o.batches; run++) {
    const edits = typeof o.editsPerBatch === 'number' ? o.editsPerBatch : o.editsPerBatch(run);
    model.randomBatch(run === 1 ? (o.firstBatch ?? 40) : emptyEvery > 0 && run % emptyEvery === 0 ? 0 : edits);
    if (run === 1) model.plant();
    try {
      assert.deepEqual(model.readDisk(), model.all());
    } catch (err) {
      if (err instanceof Error) err.message = `[HB_SEED=${o.seed} run ${run}] the test model disagrees with the disk: ${err.message}`;
      throw err;
    }
    const step: DriveStep = { run, model, prev, cur: model.selection() };
    const r = await o.backup(step);
    await o.afterRun?.({ ...step, ...r });
    runs.push({ run, id: r.id, status: r.status, snapshot: step.cur });
    prev = step.cur;
  }
  return { model, runs };
}
