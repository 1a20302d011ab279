import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { realFs } from '../../src/io/fs.js';
import { addCopyJob, inThreadCopier, newCopyJobs, workerCopier, type CopyJob, type CopyJobs, type CopyOutcome } from '../../src/apply/copier.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { removeDir, tempDir } from '../helpers/tree.js';

/**
 * The copies of a run on two threads (src/apply/copier.ts), with the built program as the worker:
 * the worker's outcomes (copies and per-file errors) must be exactly those this thread would give,
 * a worker that dies mid-batch must cost nothing but time, and a drive failure stops both threads.
 */

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** The jobs as the copier takes them: one array per field. */
function columns(list: readonly CopyJob[]): CopyJobs {
  const jobs = newCopyJobs();
  for (const job of list) addCopyJob(jobs, job);
  return jobs;
}

interface Setup {
  root: string;
  jobs: CopyJob[];
  /** Content of each job's source, or undefined when the job must fail. */
  content: (Buffer | undefined)[];
}

function setup(n: number): Setup {
  const root = tempDir('hb-copier-');
  fs.mkdirSync(join(root, 'src'));
  fs.mkdirSync(join(root, 'tmp'));
  const jobs: CopyJob[] = [];
  const content: (Buffer | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    const src = join(root, 'src', `f${i}`);
    const data = Buffer.from(`file ${i} `.repeat(1 + (i % 50)));
    fs.writeFileSync(src, data, { mode: 0o640 });
    const st = fs.statSync(src, { bigint: true });
    jobs.push({ src, tmp: join(root, 'tmp', `t${i}`), expect: { size: data.length, mtime_ns: st.mtimeNs.toString(), mode: 0o640, uid: Number(st.uid), gid: Number(st.gid) } });
    content.push(data);
  }
  // Job 1's source vanished since the scan; job 2's changed size; job 3's temp folder is missing.
  fs.unlinkSync(jobs[1]!.src);
  content[1] = undefined;
  fs.appendFileSync(jobs[2]!.src, 'grown');
  content[2] = undefined;
  jobs[3]!.tmp = join(root, 'no-such-folder', 't3');
  content[3] = undefined;
  return { root, jobs, content };
}

function check(s: Setup, out: CopyOutcome[]): void {
  assert.equal(out.length, s.jobs.length);
  out.forEach((r, i) => {
    const want = s.content[i];
    if (want === undefined) {
      assert.equal(r.ok, false, `job ${i} must fail`);
      return;
    }
    assert.ok(r.ok, `job ${i}: ${r.ok ? '' : r.error.message}`);
    assert.equal(r.sha256, sha(want), `job ${i} sha256`);
    assert.equal(r.bytes, want.length);
    assert.deepEqual(fs.readFileSync(s.jobs[i]!.tmp), want, `job ${i} temp file content`);
    assert.equal(fs.statSync(s.jobs[i]!.tmp).mode & 0o7777, 0o640);
  });
  const code = (i: number) => {
    const r = out[i]!;
    return r.ok ? 'ok' : (r.error as NodeJS.ErrnoException).code;
  };
  assert.deepEqual([code(1), code(2), code(3)], ['ECHANGED', 'ECHANGED', 'ENOENT']);
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const options = { fs: realFs, fsyncData: false, maxWorkers: 4 };

test('this thread alone: copies, and names each per-file fault', async (t) => {
  const s = setup(40);
  t.after(() => removeDir(s.root));
  check(s, await inThreadCopier(options).copy(columns(s.jobs), () => {}).finish());
});

test('the worker thread gives exactly the outcomes this thread would, errors included', async (t) => {
  const workerScript = ensureBuilt();
  const s = setup(300);
  t.after(() => removeDir(s.root));
  const copier = workerCopier({ ...options, workerScript });
  try {
    let copied = 0;
    const run = copier.copy(columns(s.jobs), () => copied++);
    // This thread has not started: every temp file that appears is the worker's. Wait until the
    // worker has done every job, so the outcomes below all crossed from it, failures too.
    await waitFor(() => s.content.every((c, i) => c === undefined || fs.existsSync(s.jobs[i]!.tmp)), 'the worker to copy everything');
    const out = await run.finish();
    check(s, out);
    assert.equal(copied, s.content.filter((c) => c !== undefined).length, 'onCopied saw every copy once');
    // A second batch on the same worker: both threads share it.
    const s2 = setup(200);
    t.after(() => removeDir(s2.root));
    check(s2, await copier.copy(columns(s2.jobs), () => {}).finish());
  } finally {
    await copier.close();
  }
});

test('a worker that dies mid-batch: the copies it took are made again here, over its half-written temp files', async (t) => {
  const s = setup(60);
  t.after(() => removeDir(s.root));
  // A worker that takes four jobs, leaves a half-written temp file for each, and dies.
  const dying = join(s.root, 'dying-worker.cjs');
  fs.writeFileSync(
    dying,
    `const { parentPort } = require('node:worker_threads');
     const fs = require('node:fs');
     parentPort.on('message', (batch) => {
       const next = new Int32Array(batch.shared);
       for (let k = 0; k < 4; k++) {
         const i = Atomics.add(next, 0, 1);
         if (i < batch.jobs.src.length) try { fs.writeFileSync(batch.jobs.tmp[i], 'half'); } catch {}
       }
       process.exit(3);
     });`,
  );
  const copier = workerCopier({ ...options, workerScript: dying });
  try {
    const run = copier.copy(columns(s.jobs), () => {});
    await waitFor(() => fs.existsSync(s.jobs[0]!.tmp), 'the dying worker to take its jobs');
    check(s, await run.finish());
    // The rest of the run goes on without it.
    const s2 = setup(20);
    t.after(() => removeDir(s2.root));
    check(s2, await copier.copy(columns(s2.jobs), () => {}).finish());
  } finally {
    await copier.close();
  }
});

test('a worker that cannot start: everything is copied here', async (t) => {
  const s = setup(30);
  t.after(() => removeDir(s.root));
  const copier = workerCopier({ ...options, workerScript: join(s.root, 'no-such-script.js') });
  try {
    check(s, await copier.copy(columns(s.jobs), () => {}).finish());
  } finally {
    await copier.close();
  }
});

test('a drive failure on this thread stops the worker too: the copies not made get that error and leave no temp file', async (t) => {
  const workerScript = ensureBuilt();
  const s = setup(5000);
  t.after(() => removeDir(s.root));
  // This thread cannot create a temp file (a full drive); the worker (the real fs) can.
  const tmpDir = join(s.root, 'tmp');
  const full = faultyFs({ openSync: (p) => String(p).startsWith(`${tmpDir}/`) && 'ENOSPC' });
  const copier = workerCopier({ ...options, fs: full, workerScript });
  try {
    const run = copier.copy(columns(s.jobs), () => {});
    await waitFor(() => fs.readdirSync(tmpDir).length > 0, 'the worker to start copying');
    const out = await run.finish();
    assert.equal(out.length, s.jobs.length);
    const made = out.filter((r) => r.ok).length;
    const notMade = out.filter((r) => !r.ok && (r.error as NodeJS.ErrnoException).code === 'ENOSPC').length;
    assert.equal(made + notMade + out.filter((r) => !r.ok && (r.error as NodeJS.ErrnoException).code !== 'ENOSPC').length, s.jobs.length, 'every job has an outcome');
    t.diagnostic(`${made} made, ${notMade} not made for ENOSPC`);
    assert.ok(notMade > s.jobs.length / 2, `the worker stopped: ${made} made, ${notMade} not made for ENOSPC`);
    assert.equal(fs.readdirSync(tmpDir).length, made, 'a temp file for each copy made, none for the others');
  } finally {
    await copier.close();
  }
});
