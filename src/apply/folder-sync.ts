import { dirname } from 'node:path';
import type { Fs } from '../io/fs.js';
import { fsyncDir, fsyncFile } from '../io/atomic.js';
import { isCode } from '../io/errors.js';
import type { Layout } from '../store/layout.js';
import type { Durability } from '../io/durability.js';

/**
 * The folders whose entries (links, renames, deletions, new folders) or modes a run changed, each
 * fsynced once before an increment.json that lists those changes goes into place, where no flush of
 * the drive (syncfs) makes them durable (docs/reliability.md, "fsync policy"): at the end of a run
 * (Applier.syncFolders) and when an interrupted run is recovered (apply/recover.ts). The increments
 * folder (the run made its increment there) and the temp folder are always among them: a put whose
 * temp file came back after a power cut, with the journal, would count as not done.
 */
export class ChangedFolders {
  private readonly dirs: Set<string>;

  constructor(private readonly layout: Layout) {
    this.dirs = new Set([layout.increments, layout.tmp]);
  }

  /**
   * A mirror folder ('' the mirror itself). `isFolder` false: it is no longer a folder (deleted, or
   * replaced by a symlink, which must not be followed), and is left out: its removal is an entry of
   * its parent, which is added too.
   */
  mirror(rel: string, isFolder: boolean): void {
    if (rel === '') this.dirs.add(this.layout.mirror);
    else if (isFolder) this.dirs.add(this.layout.mirrorPath(rel));
  }

  /**
   * A folder of an increment (in its files/ or deleted/), with every folder above it up to
   * increments/: the run made them all, each an entry of the one above.
   */
  increment(dir: string): void {
    const top = `${this.layout.increments}/`;
    // A folder already here came with those above it.
    for (let d = dir; d.startsWith(top) && !this.dirs.has(d); d = dirname(d)) this.dirs.add(d);
  }

  /** fsync each folder once. */
  sync(fs: Fs): void {
    for (const dir of this.dirs) {
      try {
        fsyncDir(fs, dir);
      } catch (err) {
        // Gone (removed from the mirror by hand since the last run, or a link's folder never made):
        // nothing of the run is in it.
        if (!isCode(err, 'ENOENT', 'ENOTDIR')) throw err;
      }
    }
  }
}

/**
 * Makes links or copies just made in increments (`made`) durable, data and names, before a change
 * that relies on them: with syncfs, one flush of the drive; without it, an fsync of each file of
 * `unsynced` (copies whose data no fsync covered yet) and of every folder from each one's up to
 * increments/ (each may be new: an entry of the one above). Hard links are names only: their data
 * is durable already. Used before a run's renames and unlinks (Applier.settleCopies) and before a
 * prune removes a folder (prune-exec.ts).
 */
export function settleIncrementFiles(fs: Fs, layout: Layout, d: Durability, made: readonly string[], unsynced: readonly string[]): void {
  if (d.flushesAll) {
    d.flushAll();
    return;
  }
  if (!d.perFile) return;
  for (const f of unsynced) fsyncFile(fs, f);
  const folders = new ChangedFolders(layout);
  for (const f of made) folders.increment(dirname(f));
  folders.sync(fs);
}
