import { hostname } from 'node:os';
import { unlinkIfExists, type Fs } from '../io/fs.js';
import { failure, isCode, isNoHardlink } from '../io/errors.js';
import { tmpName } from '../io/atomic.js';
import { dirname, join } from 'node:path';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  program: string;
}

export interface Lock {
  release(): void;
  /** Set when a stale lock of a dead process was taken over. */
  tookOver: LockInfo | undefined;
}

/** An unreadable lock younger than this may be one being created right now (drives without links). */
const TORN_LOCK_GRACE_MS = 60_000;

/**
 * One run per destination: the lock file lives on the destination, so two machines sharing a stick
 * collide too. A lock whose process is gone (same host, pid not alive) is taken over.
 *
 * Both steps are atomic: the lock is created with its content already in it (written to a temp
 * file, then hard-linked into place, which fails if a lock exists), and a stale lock is first renamed
 * aside, which only one of several processes taking it over can do.
 */
export function acquireLock(fs: Fs, file: string, program: string): Lock {
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), program };
  const text = `${JSON.stringify(mine)}\n`;
  let tookOver: LockInfo | undefined;
  for (let attempt = 0; ; attempt++) {
    if (createExclusive(fs, file, text)) break;
    const holder = readLock(fs, file);
    const stale =
      holder === undefined
        ? Date.now() - (fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) > TORN_LOCK_GRACE_MS
        : holder.host === mine.host && !isAlive(holder.pid);
    if (!stale || attempt >= 3) {
      throw failure(
        holder === undefined
          ? `another run is taking the lock on this backup right now (${file})`
          : `another run holds the lock on this backup: pid ${holder.pid} on ${holder.host}, started ${holder.started}`,
        { hint: `if that process is really gone, delete ${file}` },
      );
    }
    const aside = join(dirname(file), tmpName('.lock-stale-'));
    try {
      fs.renameSync(file, aside);
    } catch (err) {
      if (isCode(err, 'ENOENT')) continue; // another process moved it first: try to create ours
      throw err;
    }
    const moved = readLock(fs, aside);
    if (holder !== undefined && (moved?.pid !== holder.pid || moved.host !== holder.host || moved.started !== holder.started)) {
      // Between our look and our rename another process replaced the stale lock with its own:
      // give it back and stand aside.
      try {
        fs.linkSync(aside, file);
      } catch {
        // it already has a lock in place again
      }
      fs.unlinkSync(aside);
      throw failure(`another run took over the stale lock on this backup at the same moment (pid ${moved?.pid ?? '?'})`);
    }
    fs.unlinkSync(aside);
    tookOver = holder ?? { pid: 0, host: '?', started: '?', program: '?' };
  }
  return {
    tookOver,
    release: () => {
      const now = readLock(fs, file);
      if (now?.pid === mine.pid && now.host === mine.host) unlinkIfExists(fs, file);
    },
  };
}

export function readLock(fs: Fs, file: string): LockInfo | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.started === 'string') {
      return { pid: v.pid, host: v.host, started: v.started, program: String(v.program ?? '?') };
    }
  } catch {
    // unreadable or torn: treated as no valid holder
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isCode(err, 'ESRCH');
  }
}

/** Creates `file` holding `text`, atomically; false if it exists. */
function createExclusive(fs: Fs, file: string, text: string): boolean {
  const tmp = join(dirname(file), tmpName('.lock-'));
  fs.writeFileSync(tmp, text, { flag: 'wx', mode: 0o644 });
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return false;
    if (!isNoHardlink(err)) throw err;
    // No hard links on this drive: O_EXCL creation, with a moment where the file is still empty.
    try {
      fs.writeFileSync(file, text, { flag: 'wx', mode: 0o644 });
      return true;
    } catch (err2) {
      if (isCode(err2, 'EEXIST')) return false;
      throw err2;
    }
  } finally {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // best effort: swept at the next start
    }
  }
}
