import { join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { isCode } from '../io/errors.js';
import { Layout } from './layout.js';
import { compareIds, isIncrementId } from './ids.js';
import { readManifest } from './manifest.js';

export interface AreaUsage {
  /** Regular files (each link counted). */
  files: number;
  /** Sum of the sizes of those files, as `du --apparent-size` would count them without link awareness. */
  bytes: number;
  /** Bytes of the inodes whose every link lies in this area: what deleting it would free (content only). */
  unique: number;
}

export interface IncrementUsage extends AreaUsage {
  id: string;
  /** Size of increment.json (freed with the increment, not counted in files/bytes). */
  metadata: number;
}

export interface DuReport {
  increments: IncrementUsage[];
  mirror: AreaUsage;
  /** The whole backup folder, each inode counted once (hard links cost nothing). */
  onDisk: { files: number; bytes: number };
  /** What the same files would take without hard links (every link a copy). */
  apparent: number;
  /** The selection's size at the last run, from the manifest. */
  source: { files: number; bytes: number };
}

interface InodeUse {
  size: number;
  nlink: number;
  seen: number;
  /** The one area holding all links seen so far, or null once two areas share it. */
  area: string | null;
}

/**
 * Hard-link-aware usage of a backup (read-only): every regular file under mirror/ and increments/
 * is lstat'ed once; an inode belongs to an area when all of its links were found there.
 */
export function diskUsage(fs: Fs, dist: string): DuReport {
  const layout = new Layout(dist);
  const inodes = new Map<string, InodeUse>();
  const areas = new Map<string, AreaUsage>();
  const walk = (dir: string, area: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    const usage = areas.get(area) ?? { files: 0, bytes: 0, unique: 0 };
    areas.set(area, usage);
    for (const name of names) {
      const p = join(dir, name);
      const st = fs.lstatSync(p, { bigint: true });
      if (st.isDirectory()) walk(p, area);
      else if (st.isFile()) {
        const size = Number(st.size);
        usage.files++;
        usage.bytes += size;
        const key = `${st.dev}:${st.ino}`;
        const use = inodes.get(key);
        if (use === undefined) inodes.set(key, { size, nlink: Number(st.nlink), seen: 1, area });
        else {
          use.seen++;
          if (use.area !== area) use.area = null;
        }
      }
    }
  };
  walk(layout.mirror, 'mirror');
  let ids: string[] = [];
  try {
    ids = fs.readdirSync(layout.increments).filter(isIncrementId).sort(compareIds);
  } catch (err) {
    if (!isCode(err, 'ENOENT')) throw err;
  }
  const metadata = new Map<string, number>();
  for (const id of ids) {
    walk(join(layout.incrementDir(id), 'files'), `inc:${id}`);
    walk(join(layout.incrementDir(id), 'deleted'), `inc:${id}`);
    metadata.set(id, Number(fs.lstatSync(layout.incrementJson(id), { throwIfNoEntry: false })?.size ?? 0));
  }

  let onDiskBytes = 0;
  for (const use of inodes.values()) {
    onDiskBytes += use.size;
    if (use.area !== null && use.seen === use.nlink) {
      const a = areas.get(use.area);
      if (a !== undefined) a.unique += use.size;
    }
  }
  let apparent = 0;
  for (const a of areas.values()) apparent += a.bytes;
  const source = { files: 0, bytes: 0 };
  for (const e of readManifest(fs, layout.manifest).entries.values()) {
    if (e.type !== 'file') continue;
    source.files++;
    source.bytes += e.size;
  }
  const empty = (): AreaUsage => ({ files: 0, bytes: 0, unique: 0 });
  return {
    increments: ids.map((id) => ({ id, ...(areas.get(`inc:${id}`) ?? empty()), metadata: metadata.get(id) ?? 0 })),
    mirror: areas.get('mirror') ?? empty(),
    onDisk: { files: inodes.size, bytes: onDiskBytes },
    apparent,
    source,
  };
}
