import { hostname } from 'node:os';
import type { Fs } from '../io/fs.js';
import { failure, isCode } from '../io/errors.js';
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

/**
 * One run per destination: the lock file lives on the destination, so two machines sharing a stick
 * collide too. A lock whose process is gone (same host, pid not alive) is taken over.
 */
export function acquireLock(fs: Fs, file: string, program: string): Lock {
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), program };
  const text = `${JSON.stringify(mine)}\n`;
  let tookOver: LockInfo | undefined;
  try {
    fs.writeFileSync(file, text, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if (!isCode(err, 'EEXIST')) throw err;
    const holder = readLock(fs, file);
    if (holder !== undefined && !(holder.host === mine.host && !isAlive(holder.pid))) {
      throw failure(
        `another run holds the lock on this backup: pid ${holder.pid} on ${holder.host}, started ${holder.started}`,
        { hint: `if that process is really gone, delete ${file}` },
      );
    }
    // Dead holder on this host, or an unreadable (torn) lock file: replace it atomically, then check
    // that we won against another process doing the same.
    const tmp = join(dirname(file), tmpName('.lock-'));
    fs.writeFileSync(tmp, text, { flag: 'wx' });
    fs.renameSync(tmp, file);
    const now = readLock(fs, file);
    if (now?.pid !== mine.pid || now.host !== mine.host) {
      throw failure(`another run took over the lock on this backup at the same moment (pid ${now?.pid ?? '?'})`);
    }
    tookOver = holder ?? { pid: 0, host: '?', started: '?', program: '?' };
  }
  return {
    tookOver,
    release: () => {
      const now = readLock(fs, file);
      if (now?.pid === mine.pid && now.host === mine.host) {
        try {
          fs.unlinkSync(file);
        } catch (err) {
          if (!isCode(err, 'ENOENT')) throw err;
        }
      }
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
