/**
 * Reading a backup destination back for tests: increments, their files/ and deleted/ trees, the
 * mirror with exact metadata, and du-style space accounting.
 */
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { IncrementJson } from '../../src/meta/increment.js';
import { compareIds } from '../../src/store/ids.js';

export interface DiskEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  mtimeNs: bigint;
  ino: bigint;
  nlink: number;
  uid: number;
  gid: number;
  sha256?: string;
  target?: string;
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every entry below `root`, exact (bigint) metadata, files hashed. Missing root → empty map. */
export function readDiskTree(root: string): Map<string, DiskEntry> {
  const out = new Map<string, DiskEntry>();
  if (!fs.existsSync(root)) return out;
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, name);
      const st = fs.lstatSync(p, { bigint: true });
      const base = {
        mode: Number(st.mode & 0o7777n),
        size: Number(st.size),
        mtimeNs: st.mtimeNs,
        ino: st.ino,
        nlink: Number(st.nlink),
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', ...base });
        walk(p, r);
      } else if (st.isSymbolicLink()) out.set(r, { type: 'symlink', ...base, target: fs.readlinkSync(p) });
      else if (st.isFile()) out.set(r, { type: 'file', ...base, sha256: sha256Of(p) });
      else out.set(r, { type: 'other', ...base });
    }
  };
  walk(root, '');
  return out;
}

/** Only the non-folder entries of a tree (what files/ and deleted/ must hold). */
export function nonDirs(tree: Map<string, DiskEntry>): Map<string, DiskEntry> {
  return new Map([...tree].filter(([, e]) => e.type !== 'dir'));
}

/** The increment folders, in increment order (start time, then suffix number). */
export function incrementIds(dist: string): string[] {
  const dir = join(dist, 'increments');
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort(compareIds) : [];
}

export function readIncrement(dist: string, id: string): IncrementJson {
  return JSON.parse(fs.readFileSync(join(dist, 'increments', id, 'increment.json'), 'utf8')) as IncrementJson;
}

/** du: the bytes of every distinct inode below `root` (hard links counted once). */
export function uniqueInodeBytes(root: string): number {
  const seen = new Map<string, number>();
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = join(dir, name);
      const st = fs.lstatSync(p, { bigint: true });
      if (st.isDirectory()) walk(p);
      else seen.set(`${st.dev}:${st.ino}`, Number(st.size));
    }
  };
  walk(root);
  let total = 0;
  for (const n of seen.values()) total += n;
  return total;
}

/** Every path below `root` with its mtime and, for files, its content: a fingerprint that any write changes. */
export function fingerprint(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of readDiskTree(root)) out[k] = `${v.type} ${v.mode.toString(8)} ${v.mtimeNs} ${v.size} ${v.sha256 ?? ''} ${v.target ?? ''} ${v.ino}`;
  return out;
}

/** rm -rf that also works without root below folders such as 0555 (opened for their owner first). */
export function forceRemove(root: string): void {
  const open = (dir: string) => {
    try {
      fs.chmodSync(dir, 0o700);
    } catch {
      return;
    }
    for (const name of fs.readdirSync(dir)) {
      const p = join(dir, name);
      if (fs.lstatSync(p).isDirectory()) open(p);
    }
  };
  if (fs.existsSync(root)) open(root);
  fs.rmSync(root, { recursive: true, force: true });
}
