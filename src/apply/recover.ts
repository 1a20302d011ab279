import { dirname, join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { unlinkIfExists } from '../io/fs.js';
import { chownIfSupported, isRoot } from '../io/fs.js';
import { parentOf } from '../meta/safe-path.js';
import { isCode } from '../io/errors.js';
import { AtomicWrites, isAtomicTempName, writeFileAtomic } from '../io/atomic.js';
import type { Durability } from '../io/durability.js';
import type { Layout } from '../store/layout.js';
import { TMP_PREFIX } from '../store/layout.js';
import { applyOp, happened, openJournal, Verdicts, type JournalFile, type JournalOp } from '../store/journal.js';
import { readManifest, writeManifest } from '../store/manifest.js';
import { buildIncrementJson, EntryRecords, incrementText, listOf, recordsFromOps, type IncrementDocument } from '../store/records.js';
import { readIncrementFile } from '../store/increment-file.js';
import { isIncrementId } from '../store/ids.js';
import { VERSION } from '../version.js';
import { ChangedFolders } from './folder-sync.js';

export interface RecoveryReport {
  /** The interrupted run's increment id, when a journal was found. */
  id: string | undefined;
  done: number;
  undone: number;
  /** Increment folder removed because nothing of it reached the mirror. */
  removedEmpty: boolean;
  /** Whole lines of the journal that were damaged or announced no valid change, ignored (openJournal). */
  damaged: number;
}

/**
 * Finishes what an interrupted run left (kill -9, power loss, a full drive): decide from the disk
 * which announced changes happened, remove the traces of those that did not, record the ones that
 * did in the manifest and in the increment (`"complete": false`), then drop the journal. Idempotent:
 * a crash during recovery is recovered by the next one. Runs under the lock.
 *
 * What the changes that happened did (the mirror's renames, deletions and new folders, the
 * increment's links) may still be only in the page cache, after kill -9 or a fault that stopped the
 * run: before increment.json lists them and the journal goes, they are made durable as at the end
 * of a run, with one flush of the drive (syncfs) or, without it, an fsync of each folder they
 * changed. `durability` is asked only then (finding out whether syncfs works takes a flush of the
 * drive: io/durability.ts); a run that stopped passes its own.
 */
export function recoverInterruptedRun(fs: Fs, layout: Layout, durability: () => Durability): RecoveryReport {
  const report: RecoveryReport = { id: undefined, done: 0, undone: 0, removedEmpty: false, damaged: 0 };
  const journal = openJournal(fs, layout.journal);
  if (journal === undefined) {
    // No journal, or one whose header never became durable: nothing was announced.
    unlinkIfExists(fs, layout.journal);
    return report;
  }
  try {
    return finishRun(fs, layout, durability, journal, report);
  } finally {
    journal.close();
  }
}

function finishRun(fs: Fs, layout: Layout, durability: () => Durability, journal: JournalFile, report: RecoveryReport): RecoveryReport {
  const { header } = journal;
  report.id = header.id;

  // The folders whose entries or modes this recovery records, or changes itself: fsynced before
  // increment.json is in place where no flush of the drive covers them (below).
  const folders = new ChangedFolders(layout);
  const manifest = readManifest(fs, layout.manifest);
  const previous = manifest.header?.last_increment ?? null;

  // One pass over the journal, one change at a time (a first run of a million files announces as
  // many: store/journal.ts openJournal). Each change's verdict is kept, one byte, for the passes
  // that write the increment's lists (below); the folders it touched are kept by name, as a set.
  const verdicts = new Verdicts();
  const counts = { new: 0, changed: 0, deleted: 0 };
  // The folders whose modes (and owners) are set again, and those of the mirror the done changes changed.
  const dirs = new Set<string>();
  const parents = new Set<string>();
  for (const op of journal.ops()) {
    const parent = parentOf(op.entry.path);
    if (op.op === 'mkdir' || op.op === 'dirmode') dirs.add(op.entry.path);
    if (parent !== '') dirs.add(parent);
    const link = incrementLinkOf(layout, header.id, op);
    if (!happened(fs, layout, op)) {
      // An undone put's temp file stays until the journal is gone (sweepTmp): its presence is what
      // says "not done", so a crash during this recovery must find it again. The link of an undone
      // change may have been made, and removed here or already by the run that stopped: where
      // recovery records the run, its folder is fsynced too, so that a power cut cannot bring back
      // a version no increment.json lists (where it records nothing, the increment folder is
      // removed, or complete).
      verdicts.push(false);
      report.undone++;
      if (link !== undefined) {
        unlinkIfExists(fs, link);
        folders.increment(dirname(link));
      }
      continue;
    }
    verdicts.push(true);
    report.done++;
    counts[listOf(op)]++;
    applyOp(manifest.entries, op);
    // What it changed: its mirror folder (a put's rename, a deletion, a new folder), and the
    // increment's folder of its link in files/ or deleted/.
    parents.add(parent);
    if (link !== undefined) folders.increment(dirname(link));
  }
  report.damaged = journal.damaged;
  for (const rel of parents) folders.mirror(rel, manifest.entries.get(rel)?.type === 'dir');

  // Folder modes (and owners, as root): a made folder is created 0700 and a parent may have been opened
  // for writing; the run sets their recorded modes at its end, which a crash skipped.
  for (const rel of [...dirs].sort().reverse()) {
    const e = manifest.entries.get(rel);
    if (e?.type !== 'dir') continue;
    folders.mirror(rel, true);
    try {
      if (isRoot()) chownIfSupported(() => fs.chownSync(layout.mirrorPath(rel), e.uid, e.gid));
      fs.chmodSync(layout.mirrorPath(rel), e.mode);
    } catch (err) {
      if (!isCode(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
  }

  const incDir = layout.incrementDir(header.id);
  const existing = readIncrementIfAny(fs, layout.incrementJson(header.id), header.id);
  let json: IncrementDocument | undefined;
  if (existing?.complete === true) {
    // The run wrote its increment and died before the manifest: nothing to finalise there (its
    // changes were durable before its increment.json went into place).
  } else if (report.done === 0) {
    fs.rmSync(incDir, { recursive: true, force: true });
    report.removedEmpty = true;
  } else {
    fs.mkdirSync(incDir, { recursive: true });
    folders.increment(incDir);
    // Each list is written as the journal is read again, its done changes of that list only.
    const doneOf = (list: keyof typeof counts): EntryRecords<JournalOp> =>
      new EntryRecords(
        {
          length: counts[list],
          *[Symbol.iterator]() {
            // The journal as judged above (the lock is held): any other is not written (doneOps).
            for (const op of verdicts.doneOps(journal, layout.journal)) if (listOf(op) === list) yield op;
          },
        },
        (op) => op.entry,
      );
    json = buildIncrementJson({
      header,
      previous: existing?.previous ?? previous,
      lists: { new: doneOf('new'), changed: doneOf('changed'), deleted: doneOf('deleted') },
      errors: existing?.errors ?? [],
      bytesCopied: existing?.summary?.bytes_copied ?? 0,
      finished: null,
      complete: false,
      version: VERSION,
      recoveredAt: new Date().toISOString(),
    });
  }
  const lastIncrement = report.removedEmpty ? previous : header.id;
  // As at the end of a run (run.ts): increment.json, then the manifest, go into place only once what
  // they list is durable. With syncfs the one flush of the drive in commit() covers every change
  // above and both temp files; without it each folder is fsynced first. The journal goes last: until
  // then a power cut leaves it, and the next start recovers again.
  if (json === undefined) {
    // Nothing is recorded here, and nothing is flushed: what is left to make durable is the
    // increment folder's removal, or the rename of the run's own complete increment.json when it
    // was killed between that rename and the manifest's (on a filesystem that does not keep renames
    // in order, a power cut could otherwise bring back its first increment.json, which lists
    // nothing, with the journal gone). A few fsyncs: the increment folder, increments/, tmp/.
    const here = new ChangedFolders(layout);
    here.increment(incDir);
    here.sync(fs);
  }
  const d = json === undefined ? undefined : durability();
  const writes = new AtomicWrites(fs, d?.flushesAll === true ? () => d.flushAll() : undefined);
  try {
    if (d?.perFile === true) folders.sync(fs);
    if (json !== undefined) writes.write(layout.incrementJson(header.id), incrementText(json));
    writeManifest(fs, layout.manifest, { source: header.source, lastIncrement }, manifest.entries, writes);
    writes.commit();
  } catch (err) {
    writes.abort();
    throw err;
  }
  // Closed first: a FUSE filesystem may refuse to remove an open file, or keep it as a hidden one.
  journal.close();
  fs.unlinkSync(layout.journal);
  return report;
}

/** The link an announced change makes in increment `id`: a tracked file's version in files/ (put) or deleted/ (del). */
function incrementLinkOf(layout: Layout, id: string, op: JournalOp): string | undefined {
  if (!op.entry.tracked || op.entry.type !== 'file') return undefined;
  if (op.op === 'put') return layout.incrementFile(id, op.entry.path);
  if (op.op === 'del') return layout.incrementDeleted(id, op.entry.path);
  return undefined;
}

/** Removes leftover temp files of earlier runs (nothing runs after SIGKILL, so the next start does). */
export function sweepTmp(fs: Fs, layout: Layout): number {
  let n = 0;
  let names: string[];
  try {
    names = fs.readdirSync(layout.tmp);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return 0;
    throw err;
  }
  for (const name of names) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    fs.rmSync(join(layout.tmp, name), { recursive: true, force: true });
    n++;
  }
  // Atomic writes of the manifest (and a lock takeover) keep their temp file beside the target.
  for (const name of fs.readdirSync(layout.state)) {
    if (!isAtomicTempName(name)) continue;
    unlinkIfExists(fs, join(layout.state, name));
    n++;
  }
  return n;
}

/**
 * An increment folder without increment.json can only be left by a crash between creating the folder
 * and writing its first metadata: it holds nothing announced, so it is removed when empty, else
 * described as incomplete. Temp files an interrupted atomic write left in any increment are removed.
 */
export function repairBareIncrements(fs: Fs, layout: Layout, source: string, profile: string): string[] {
  const repaired: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(layout.increments);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return repaired;
    throw err;
  }
  for (const id of names) {
    if (!isIncrementId(id)) continue;
    const dir = layout.incrementDir(id);
    // A crash during an atomic write of increment.json leaves its temp file beside it.
    const inside = fs.readdirSync(dir).filter((name) => {
      if (!isAtomicTempName(name)) return true;
      unlinkIfExists(fs, join(dir, name));
      return false;
    });
    if (inside.includes('increment.json')) continue;
    if (inside.length === 0) fs.rmdirSync(dir);
    else {
      const json = buildIncrementJson({
        header: { journal: 1, id, profile, source, started: new Date(0).toISOString(), link_mode: 'hardlink' },
        previous: null,
        lists: recordsFromOps([]),
        errors: [],
        bytesCopied: 0,
        finished: null,
        complete: false,
        version: VERSION,
        recoveredAt: new Date().toISOString(),
      });
      writeFileAtomic(fs, layout.incrementJson(id), incrementText(json));
    }
    repaired.push(id);
  }
  return repaired;
}

/**
 * The interrupted run's increment.json, if it reads cleanly: its frame only (whether it is complete,
 * its previous increment, errors and summary), not its records. A run killed between renaming its
 * complete increment.json and the manifest leaves one that lists every change it made (a first run
 * of W3: ~280 MB). W1's first increment (104,000 records): 172 ms for its frame, 400 ms parsed whole,
 * with an object per record.
 */
function readIncrementIfAny(fs: Fs, file: string, id: string) {
  let parsed;
  try {
    parsed = readIncrementFile(fs, file, id, () => false);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
  return parsed.ok ? parsed.value : undefined;
}

