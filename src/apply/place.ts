import { dirname, sep } from 'node:path';
import type { Fs } from '../io/fs.js';
import { chownIfSupported } from '../io/fs.js';
import { isCode } from '../io/errors.js';
import { fsyncFile } from '../io/atomic.js';
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

export interface PlaceOptions {
  linkMode: LinkMode;
  root: boolean;
  /**
   * fsync each copy (link_mode "copy") as it is made: where no flush of the drive (syncfs) makes the
   * copies durable before the change that relies on them (Applier.settleCopies).
   */
  fsyncCopies: boolean;
}

/**
 * Hard link, or (link_mode "copy") a copy carrying the same mode, owner (as root) and mtime, fsynced
 * with its metadata when `o.fsyncCopies`.
 */
export function linkOrCopy(fs: Fs, from: string, to: string, meta: PlaceMeta, o: PlaceOptions): void {
  if (o.linkMode === 'hardlink') {
    fs.linkSync(from, to);
    return;
  }
  fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
  carryMeta(fs, to, meta, o.root);
  if (o.fsyncCopies) fsyncFile(fs, to);
}

/** Gives a copy the mode, mtime and (as root) owner of the version it holds. */
export function carryMeta(fs: Fs, to: string, meta: PlaceMeta, root: boolean): void {
  if (root) chownIfSupported(() => fs.chownSync(to, meta.uid, meta.gid));
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
 * A version is put in place in two steps (SPEC §3 steps 4–5), each over a whole batch (Applier):
 * `keepVersion` links (or copies) the temp file into the increment's `files/`, then, once the
 * batch's copies are durable, `putInMirror` renames the temp file over the mirror path. The rename
 * is what says "done" (recovery reads a put whose temp file is gone as done): the increment's copy of
 * the version is durable before it. An error is returned, not thrown; the temp file then stays,
 * which says "not done".
 */
export function keepVersion(fs: Fs, tmp: string, keep: string, meta: PlaceMeta, dirs: MadeDirs, o: PlaceOptions): Error | undefined {
  let made = false;
  try {
    dirs.ensureParent(fs, keep);
    // From here a file may exist at keep (link_mode "copy" copies, then sets metadata, which can fail).
    made = true;
    linkOrCopy(fs, tmp, keep, meta, o);
    return undefined;
  } catch (err) {
    return made ? removeKept(fs, keep, err) : asError(err);
  }
}

/** The rename of a version's temp file over its mirror path; `keep`, its link in the increment, is removed again when it fails. */
export function putInMirror(fs: Fs, tmp: string, mirror: string, keep: string | undefined): Error | undefined {
  try {
    fs.renameSync(tmp, mirror);
    return undefined;
  } catch (err) {
    return keep === undefined ? asError(err) : removeKept(fs, keep, err);
  }
}

/** After a failed placement: `err`, once the link at `keep` is gone (a StrayLinkError when it cannot be removed). */
function removeKept(fs: Fs, keep: string, err: unknown): Error {
  try {
    fs.unlinkSync(keep);
  } catch (unlinkErr) {
    if ((unlinkErr as { code?: string }).code !== 'ENOENT') return new StrayLinkError(keep, unlinkErr);
  }
  return asError(err);
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
