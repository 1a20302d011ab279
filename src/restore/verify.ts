import { constants } from 'node:fs';
import type { Fs } from '../io/fs.js';
import { lstatFor, type Lstat } from '../io/stat.js';
import { errorMessage } from '../io/errors.js';
import { hashFile, newCopyBuffer } from '../io/copy.js';
import type { Entry, EntryRecord } from '../meta/entry.js';
import type { CarriedRecord } from '../meta/increment.js';
import type { Catalog } from '../store/catalog.js';
import { isIncrementId } from '../store/ids.js';
import { TMP_PREFIX } from '../store/layout.js';
import { RESTORE_TMP_PREFIX } from './write.js';

/**
 * `verify` (read-only; docs/tool.md "verify"):
 * - the metadata reads cleanly (the catalog's problems);
 * - every entry of the current state is in the mirror with its type, size, symlink target and, for
 *   files, an mtime within 1 s (the mirror's cannot be set to the nanosecond);
 * - the mirror holds nothing the state does not list;
 * - every increment's tracked file versions are under its files/ (new, changed, carried) and
 *   deleted/ (deleted), as regular files of the recorded size, and nothing else is there;
 * - no temporary file is left in the mirror or in an increment;
 * - with `data`: every stored file (mirror and increments) re-read and checked against its sha256.
 */

export interface VerifyProblem {
  /** 'metadata', 'mirror', or the increment id. */
  where: string;
  path?: string;
  problem: string;
}

export interface VerifyReport {
  problems: VerifyProblem[];
  notices: string[];
  checked: { entries: number; increments: number; storedFiles: number; hashedFiles: number; hashedBytes: number };
}

export interface VerifyOptions {
  data: boolean;
  onProgress?: (hashedFiles: number, hashedBytes: number) => void;
}

const looksTemporary = (name: string): boolean => name.startsWith(TMP_PREFIX) || name.startsWith(RESTORE_TMP_PREFIX) || /^\..+\.tmp-/.test(name);

const MTIME_SLACK_MS = 1000;

interface ToHash {
  where: string;
  path: string;
  file: string;
  sha256: string;
  size: number;
}

export async function verifyBackup(fs: Fs, catalog: Catalog, opts: VerifyOptions): Promise<VerifyReport> {
  const { layout } = catalog;
  const report: VerifyReport = { problems: [], notices: [], checked: { entries: 0, increments: 0, storedFiles: 0, hashedFiles: 0, hashedBytes: 0 } };
  const problem = (where: string, problem: string, path?: string) => report.problems.push(path === undefined ? { where, problem } : { where, path, problem });
  for (const p of catalog.problems) problem('metadata', p);
  if (catalog.pending !== undefined) {
    report.notices.push(`a backup run (increment ${catalog.pending.id}) is in progress or was interrupted: checked against what it has finished`);
  }
  const toHash: ToHash[] = [];
  // The scan's lstat: no stats object with its Dates for each of a million entries (io/stat.ts).
  const lstat = lstatFor(fs, layout.mirror);

  // The mirror against the current state.
  for (const e of catalog.current.values()) {
    report.checked.entries++;
    const file = layout.mirrorPath(e.path);
    const bad = checkStored(fs, lstat, file, e, { mtime: true });
    if (bad !== undefined) problem('mirror', bad, e.path);
    else if (opts.data && e.type === 'file' && e.sha256 !== undefined) toHash.push({ where: 'mirror', path: e.path, file, sha256: e.sha256, size: e.size });
  }
  walk(fs, layout.mirror, '', (rel, isDir) => {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (catalog.current.has(rel)) return catalog.current.get(rel)?.type === 'dir';
    if (looksTemporary(name)) problem('mirror', 'stray temporary file', rel);
    else problem('mirror', `${isDir ? 'folder' : 'entry'} not in the manifest`, rel);
    return false;
  });

  // Every readable increment's stored versions.
  for (const inc of catalog.increments) {
    if (inc.json === undefined) continue;
    report.checked.increments++;
    const json = inc.json;
    // The versions stored under each part, by path (the records themselves: no string made per record).
    const expected = { files: new Map<string, EntryRecord>(), deleted: new Map<string, EntryRecord>() };
    const listed = (list: readonly EntryRecord[] | undefined, part: 'files' | 'deleted', when: (r: EntryRecord) => boolean = () => true) => {
      for (const r of list ?? []) if (r.type === 'file' && r.tracked && when(r)) expected[part].set(r.path, r);
    };
    listed(json.new, 'files');
    listed(json.changed, 'files');
    listed(json.deleted, 'deleted');
    // prune moves a carried version's content to this increment's files/; a carried deletion has none.
    listed(json.carried, 'files', (r) => (r as CarriedRecord).status !== 'deleted');
    const dir = layout.incrementDir(inc.id);
    for (const part of ['files', 'deleted'] as const) {
      for (const [path, r] of expected[part]) {
        report.checked.storedFiles++;
        const file = part === 'files' ? layout.incrementFile(inc.id, path) : layout.incrementDeleted(inc.id, path);
        const bad = checkStored(fs, lstat, file, r, { mtime: false });
        if (bad !== undefined) problem(inc.id, bad, `${part}/${path}`);
        else if (opts.data && r.sha256 !== undefined) toHash.push({ where: inc.id, path: `${part}/${path}`, file, sha256: r.sha256, size: r.size });
      }
    }
    if (inc.pending === true) continue; // a run in progress has links it has not recorded yet
    for (const name of safeReaddir(fs, dir)) {
      if (name === 'files' || name === 'deleted') {
        const stored = expected[name];
        walk(fs, `${dir}/${name}`, '', (rel, isDir) => {
          const base = rel.slice(rel.lastIndexOf('/') + 1);
          if (isDir || stored.has(rel)) return isDir;
          if (looksTemporary(base)) problem(inc.id, 'stray temporary file', `${name}/${rel}`);
          else problem(inc.id, 'stored file not listed in increment.json', `${name}/${rel}`);
          return false;
        });
      } else if (looksTemporary(name)) problem(inc.id, 'stray temporary file', name);
      else if (name !== 'increment.json') report.notices.push(`increment ${inc.id}: unexpected entry ${name}`);
    }
  }
  for (const name of safeReaddir(fs, layout.increments)) {
    if (isIncrementId(name)) continue;
    if (looksTemporary(name)) problem('increments', 'stray temporary file', name);
    else report.notices.push(`increments/${name}: not an increment (ignored)`);
  }

  if (opts.data) {
    // Hard links share content: each inode is read once.
    const seen = new Map<string, string>();
    const buffer = newCopyBuffer();
    for (const h of toHash) {
      let key: string;
      let got: string | undefined;
      try {
        const st = fs.statSync(h.file);
        key = `${st.dev}:${st.ino}`;
        got = seen.get(key);
        if (got === undefined) {
          got = await hashFile(fs, h.file, buffer, st.size);
          seen.set(key, got);
          report.checked.hashedFiles++;
          report.checked.hashedBytes += st.size;
          opts.onProgress?.(report.checked.hashedFiles, report.checked.hashedBytes);
        }
      } catch (err) {
        problem(h.where, `cannot be read (${errorMessage(err)})`, h.path);
        continue;
      }
      if (got !== h.sha256) problem(h.where, 'content does not match its recorded sha256 (damaged)', h.path);
    }
  }
  return report;
}

/** What is wrong with the stored copy of `e` at `file`, or undefined. */
function checkStored(fs: Fs, lstat: Lstat, file: string, e: Entry, opts: { mtime: boolean }): string | undefined {
  let st;
  try {
    st = lstat(file);
  } catch (err) {
    return `cannot be examined (${errorMessage(err)})`;
  }
  if (st === undefined) return 'missing';
  const type = typeOfMode(st.mode);
  if (type !== e.type) return `is a ${type}, the record says ${e.type}`;
  if (e.type === 'file') {
    if (st.size !== e.size) return `has ${st.size} bytes, the record says ${e.size}`;
    if (opts.mtime) {
      const recorded = Number(BigInt(e.mtime_ns) / 1_000_000n);
      const mtimeMs = Number(BigInt(st.mtimeNs) / 1_000_000n);
      if (Math.abs(mtimeMs - recorded) > MTIME_SLACK_MS) return `mtime ${new Date(mtimeMs).toISOString()} differs from the recorded ${new Date(recorded).toISOString()}`;
    }
  }
  if (e.type === 'symlink') {
    const target = fs.readlinkSync(file);
    if (target !== e.target) return `points to ${JSON.stringify(target)}, the record says ${JSON.stringify(e.target)}`;
  }
  return undefined;
}

const { S_IFMT, S_IFDIR, S_IFLNK, S_IFREG } = constants;
function typeOfMode(mode: number): 'dir' | 'symlink' | 'file' | 'special' {
  const t = mode & S_IFMT;
  return t === S_IFDIR ? 'dir' : t === S_IFLNK ? 'symlink' : t === S_IFREG ? 'file' : 'special';
}

function safeReaddir(fs: Fs, dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Walks below `dir` without following symlinks; `visit` says whether to enter a folder. Each
 * entry's type is the one its folder lists. Where the file system lists no types, Node lstats each
 * entry itself and fails the whole listing if one fails (one vanished, say): the folder is then
 * listed by name and each entry lstat'ed here, one that cannot be skipped alone.
 */
function walk(fs: Fs, dir: string, rel: string, visit: (rel: string, isDir: boolean) => boolean): void {
  const folder = rel === '' ? dir : `${dir}/${rel}`;
  let entries: { name: string; isDir: boolean }[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true }).map((d) => ({ name: d.name, isDir: d.isDirectory() }));
  } catch {
    entries = [];
    for (const name of safeReaddir(fs, folder)) {
      let st;
      try {
        st = fs.lstatSync(`${folder}/${name}`, { throwIfNoEntry: false });
      } catch {
        st = undefined;
      }
      if (st !== undefined) entries.push({ name, isDir: st.isDirectory() });
    }
  }
  for (const d of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    if (visit(r, d.isDir) && d.isDir) walk(fs, dir, r, visit);
  }
}
