import { dirname, sep } from 'node:path';
import type { Fs } from '../io/fs.js';
import { chownIfSupported } from '../io/fs.js';
import { isCode } from '../io/errors.js';
import { secondsFromNs } from '../meta/entry.js';

/**
 * Putting an announced version in place (SPEC §3 steps 4–5): a tracked file is linked into the
 * increment's `files/`, then the temp file is renamed over the mirror path; and the link-or-copy that
 * deletions and moves use too (src/apply/apply.ts).
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

/**
 * Increment-side folders already created by this run: one mkdir per folder per run. Below `root`
 * (the increment's own folder, which the run made) a missing folder's parents are made first, from
 * the top: a recursive mkdir tries the deepest one first and fails once per missing level (981 of
 * the 2,768 mkdir calls of a 1 % change of a 100k-file tree).
 */
export class MadeDirs {
  private readonly made = new Set<string>();
  constructor(private readonly root?: string) {}
  /** Every folder ensured so far (made by this run, or found made by an earlier attempt). */
  get folders(): ReadonlySet<string> {
    return this.made;
  }
  ensureParent(fs: Fs, file: string): void {
    this.ensure(fs, dirname(file));
  }
  private ensure(fs: Fs, dir: string): void {
    if (this.made.has(dir)) return;
    const parent = dirname(dir);
    const inside = this.root !== undefined && (parent === this.root || parent.startsWith(this.root + sep));
    if (!inside) fs.mkdirSync(dir, { recursive: true });
    else {
      if (parent !== this.root) this.ensure(fs, parent);
      try {
        fs.mkdirSync(dir);
      } catch (err) {
        // Made by an earlier attempt of this run (a retried put), or left by a crash and recovered.
        if (!isCode(err, 'EEXIST')) throw err;
      }
    }
    this.made.add(dir);
  }
}

/**
 * A version could not be placed, and the link already made into the increment could not be removed
 * either: the run must stop, so that recovery removes it (the put's temp file is still there, which
 * says "not done"). Going on would leave a version in `files/` that no increment.json lists.
 */
export class StrayLinkError extends Error {
  readonly code: string | undefined;
  constructor(keep: string, cause: unknown) {
    super(`${keep}: could not be removed after a failed placement (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
    this.code = (cause as { code?: string } | undefined)?.code;
  }
}

/**
 * Links and renames one version into place; returns the error when it could not (the increment link is
 * then removed again, and the temp file stays: its presence is what says "not done").
 */
export function place(fs: Fs, job: PlaceJob, dirs: MadeDirs, o: PlaceOptions): Error | undefined {
  let made = false;
  try {
    if (job.keep !== undefined) {
      dirs.ensureParent(fs, job.keep);
      // From here a file may exist at keep (link_mode "copy" copies, then sets metadata, which can fail).
      made = true;
      linkOrCopy(fs, job.tmp, job.keep, job.meta, o);
    }
    fs.renameSync(job.tmp, job.mirror);
    return undefined;
  } catch (err) {
    if (made && job.keep !== undefined) {
      try {
        fs.unlinkSync(job.keep);
      } catch (unlinkErr) {
        if ((unlinkErr as { code?: string }).code !== 'ENOENT') return new StrayLinkError(job.keep, unlinkErr);
      }
    }
    return asError(err);
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
