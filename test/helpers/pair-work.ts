import { createHash } from 'node:crypto';
import type { PairWork } from '../../src/threads/pair.js';

/**
 * A kind of job for testing src/threads/pair.ts without files: job i hashes its text, or fails as its
 * `fault` column says ('' none, '-' an error without a code, else that errno code), after busying its
 * thread for `ms` milliseconds. The same code runs on both threads (test/helpers/pair-worker.ts).
 */
export interface TestJobs {
  text: string[];
  fault: string[];
  ms: number[];
}

export interface TestResults {
  sha256: string[];
  length: number[];
}

export interface TestWorkOptions {
  /** Jobs return promises (as the backup's copies do) instead of finishing synchronously. */
  async?: boolean;
  /** Int32 [0]: incremented as each job starts on this instance. */
  progress?: SharedArrayBuffer;
  /** The first job this instance makes waits until the other instance's progress reaches `atLeast`. */
  waitFor?: { progress: SharedArrayBuffer; atLeast: number };
  /** The first job this instance makes fails with this code (a drive failure, say). */
  failFirst?: string;
  /** The thread ends itself (process.exit in a worker) as its n-th job starts. */
  dieAt?: number;
}

export const testJobs = (): TestJobs => ({ text: [], fault: [], ms: [] });

const pause = new Int32Array(new SharedArrayBuffer(4));
const busy = (ms: number): void => {
  if (ms > 0) Atomics.wait(pause, 0, 0, ms);
};

export function testWork(o: TestWorkOptions, cleared: number[] = []): PairWork<TestJobs, TestResults, { sha256: string; length: number }, { started: number }> {
  const progress = o.progress === undefined ? undefined : new Int32Array(o.progress);
  let first = true;
  const make = (j: TestJobs, i: number): { sha256: string; length: number } => {
    const fault = j.fault[i] as string;
    if (fault === '-') throw new Error(`job ${i}: a fault without a code`);
    if (fault !== '') throw Object.assign(new Error(`job ${i}: ${fault}`), { code: fault });
    const text = j.text[i] as string;
    return { sha256: createHash('sha256').update(text).digest('hex'), length: text.length };
  };
  return {
    count: (j) => j.text.length,
    results: () => ({ sha256: [], length: [] }),
    lane: () => ({ started: 0 }),
    run(j, i, lane) {
      lane.started++;
      const n = progress === undefined ? 0 : Atomics.add(progress, 0, 1) + 1;
      if (o.dieAt !== undefined && n >= o.dieAt) process.exit(3);
      const wasFirst = first;
      first = false;
      if (wasFirst && o.waitFor !== undefined) {
        const other = new Int32Array(o.waitFor.progress);
        const atLeast = o.waitFor.atLeast;
        const failFirst = o.failFirst;
        return (async () => {
          for (let t = 0; t < 3000 && Atomics.load(other, 0) < atLeast; t++) await new Promise((r) => setTimeout(r, 5));
          if (failFirst !== undefined) throw Object.assign(new Error(`job ${i}: ${failFirst}`), { code: failFirst });
          return make(j, i);
        })();
      }
      if (wasFirst && o.failFirst !== undefined) throw Object.assign(new Error(`job ${i}: ${o.failFirst}`), { code: o.failFirst });
      busy(j.ms[i] as number);
      return o.async === true ? Promise.resolve().then(() => make(j, i)) : make(j, i);
    },
    keep(out, row) {
      out.sha256.push(row.sha256);
      out.length.push(row.length);
    },
    clear(_j, i) {
      cleared.push(i);
    },
  };
}
