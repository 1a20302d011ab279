import { dirname } from 'node:path';
import type { Fs } from '../io/fs.js';
import { chownIfSupported } from '../io/fs.js';
import { secondsFromNs } from '../meta/entry.js';

/**
 * Putting an announced version in place (SPEC §3 steps 4–5): a tracked file is linked into the
 * increment's `files/`, then the temp file is renamed over the mirror path. Plain data in, an error
 * out, so the worker thread of src/apply/copier.ts runs the very same code as this thread.
 */

export type LinkMode = 'hardlink' | 'copy';

/** What a copy must carry when the destination holds no hard links (link_mode "copy"). */
export interface PlaceMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime_ns: string;
}

export interface PlaceJob {
  tmp: string;
  /** The increment's `files/<path>` (tracked files only). */
  keep: string | undefined;
  mirror: string;
  meta: PlaceMeta;
}

export interface PlaceOptions {
  linkMode: LinkMode;
  root: boolean;
}

/** Hard link, or (link_mode "copy") a copy carrying the same mode, owner (as root) and mtime. */
export function linkOrCopy(fs: Fs, from: string, to: string, meta: PlaceMeta, o: PlaceOptions): void {
  if (o.linkMode === 'hardlink') {
    fs.linkSync(from, to);
    return;
  }
  fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
  if (o.root) chownIfSupported(() => fs.chownSync(to, meta.uid, meta.gid));
  fs.chmodSync(to, meta.mode);
  const t = secondsFromNs(meta.mtime_ns);
  fs.utimesSync(to, t, t);
}

/** Increment-side folders already created by this thread: one mkdir per folder per run. */
export class MadeDirs {
  private readonly made = new Set<string>();
  ensureParent(fs: Fs, file: string): void {
    const dir = dirname(file);
    if (this.made.has(dir)) return;
    fs.mkdirSync(dir, { recursive: true });
    this.made.add(dir);
  }
}

/**
 * Links and renames one version into place; returns the error when it could not (the increment link is
 * then removed again, and the temp file stays: its presence is what says "not done").
 */
export function place(fs: Fs, job: PlaceJob, dirs: MadeDirs, o: PlaceOptions): Error | undefined {
  let linked: string | undefined;
  try {
    if (job.keep !== undefined) {
      dirs.ensureParent(fs, job.keep);
      linkOrCopy(fs, job.tmp, job.keep, job.meta, o);
      linked = job.keep;
    }
    fs.renameSync(job.tmp, job.mirror);
    return undefined;
  } catch (err) {
    if (linked !== undefined) {
      try {
        fs.unlinkSync(linked);
      } catch (unlinkErr) {
        // That error is the one reported: a drive failure stops the run, and recovery then removes
        // the link, since the put's temp file is still there.
        return asError(unlinkErr);
      }
    }
    return asError(err);
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
