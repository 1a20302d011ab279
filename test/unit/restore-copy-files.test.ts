import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { realFs } from '../../src/io/fs.js';
import { copyVerified, newRestoreBuffer, type StoredVersion } from '../../src/io/copy-verified.js';
import { addJob, copyFiles, emptyJobs, MIN_JOBS_FOR_WORKER, type FileJobs } from '../../src/restore/copy-files.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { INLINE_BUDGET, inlineBudget, limitInlining } from '../../src/threads/jit.js';
import { REPO, removeDir, tempDir } from '../helpers/tree.js';

// The copies of a restore into a new folder: verified against their sha256, on two threads (the
// compiled program file started as a worker, as the bundle starts itself), with the recorded mode,
// mtime and (as root) owner; a damaged stored copy is a fault of that file only; a worker that dies
// costs only time.

const WORKER = join(REPO, '.test-build', 'src', 'bin', 'backup-tool.js');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const MTIME_NS = '1764088739123456789';

let root = '';
let from = '';
const files: { name: string; content: Buffer; mode: number }[] = [];

before(() => {
  root = tempDir('hb-copy-files-');
  from = join(root, 'stored');
  fs.mkdirSync(from);
  const n = MIN_JOBS_FOR_WORKER + 500;
  for (let i = 0; i < n; i++) {
    // Mostly small files, some empty, some over the 1 MiB buffer; modes that the umask would change.
    const size = i % 997 === 0 ? (1 << 20) + 12345 : i % 50 === 0 ? 0 : 1 + (i % 3000);
    const content = Buffer.alloc(size, i % 251);
    content.write(`file ${i}`, 0);
    const mode = [0o644, 0o600, 0o664, 0o755, 0o444, 0o4755][i % 6] as number;
    const name = `d${i % 40}/f${i}.bin`;
    fs.mkdirSync(join(from, `d${i % 40}`), { recursive: true });
    fs.writeFileSync(join(from, name), content.subarray(0, size));
    files.push({ name, content: content.subarray(0, size), mode });
  }
});
after(() => removeDir(root));

function jobsInto(to: string): FileJobs {
  const jobs = emptyJobs();
  for (let i = 0; i < 40; i++) fs.mkdirSync(join(to, `d${i}`), { recursive: true });
  for (const f of files) {
    const want: StoredVersion = { size: f.content.length, sha256: sha(f.content), mtime_ns: MTIME_NS, mode: f.mode, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    addJob(jobs, join(from, f.name), join(to, f.name), want);
  }
  return jobs;
}

function assertCopied(to: string, except: ReadonlySet<number> = new Set()): void {
  files.forEach((f, i) => {
    const p = join(to, f.name);
    if (except.has(i)) {
      assert.equal(fs.existsSync(p), false, `${f.name}: no partial copy is left`);
      return;
    }
    const st = fs.statSync(p);
    assert.equal(st.mode & 0o7777, f.mode, `${f.name}: mode`);
    assert.equal(Math.floor(st.mtimeMs), 1764088739123, `${f.name}: mtime`);
    assert.ok(fs.readFileSync(p).equals(f.content), `${f.name}: content`);
  });
}

describe('copyFiles', () => {
  for (const threads of [1, 2]) {
    it(`copies every file exactly, with its mode and mtime, on ${threads} thread${threads === 1 ? '' : 's'}`, async () => {
      const to = join(root, `to-${threads}`);
      const jobs = jobsInto(to);
      // With two threads, the worker takes every job: this thread would often be done before it starts.
      limitInlining();
      const out = await copyFiles(realFs, jobs, { copy: { fsync: false, umask: process.umask() }, ...(threads === 2 ? { workerScript: WORKER, thisThread: false } : {}) });
      assert.deepEqual(out.faults, []);
      if (threads === 2) assert.equal(out.byWorker, files.length, 'the second thread did the copies');
      else assert.equal(out.byWorker, 0);
      // Copies on two threads lift the inlining cap while they run (threads/jit.ts): it is back after.
      assert.equal(inlineBudget(), INLINE_BUDGET, 'the inlining cap is back');
      assertCopied(to);
      removeDir(to);
    });
  }

  it('names a damaged or missing stored copy from the second thread, and copies the rest', async () => {
    const to = join(root, 'to-damaged');
    const jobs = jobsInto(to);
    const bad = new Set([3, 700, files.length - 2]);
    jobs.sha256[3] = sha('something else');
    jobs.from[700] = join(from, 'missing.bin');
    jobs.size[files.length - 2] = (jobs.size[files.length - 2] as number) + 1;
    const out = await copyFiles(realFs, jobs, { copy: { fsync: false, umask: process.umask() }, workerScript: WORKER, thisThread: false });
    assert.deepEqual(out.faults.map((f) => f.index), [...bad].sort((a, b) => a - b));
    const messages = out.faults.map((f) => String((f.error as Error).message));
    assert.match(messages[0] ?? '', /does not match its recorded sha256/);
    assert.match(messages[1] ?? '', /ENOENT/);
    assert.match(messages[2] ?? '', /bytes, the record says/);
    assertCopied(to, bad);
    removeDir(to);
  });

  it('in batches, names each fault by its index in the whole, and the worker makes every batch', async () => {
    const to = join(root, 'to-batches');
    const jobs = jobsInto(to);
    const bad = [3, 700, 1201, files.length - 2];
    jobs.sha256[3] = sha('something else');
    jobs.from[700] = join(from, 'missing.bin');
    jobs.sha256[1201] = sha('another');
    jobs.size[files.length - 2] = (jobs.size[files.length - 2] as number) + 1;
    // Batches of 600: the faults fall in the first, second, third and last.
    const out = await copyFiles(realFs, jobs, { copy: { fsync: false, umask: process.umask() }, workerScript: WORKER, thisThread: false, batch: 600 });
    assert.deepEqual(out.faults.map((f) => f.index), bad);
    assert.equal(out.byWorker, files.length, 'the worker answered for every batch');
    assertCopied(to, new Set(bad));
    removeDir(to);
  });

  it('a worker that dies mid-way costs only time: the copies it took are made here, over what it left', async () => {
    const to = join(root, 'to-dying');
    const jobs = jobsInto(to);
    // A worker that takes one chunk, leaves a half-written file for each of its jobs, and dies.
    const dying = join(root, 'dying-worker.cjs');
    fs.writeFileSync(
      dying,
      `const { parentPort } = require('node:worker_threads');
       const fs = require('node:fs');
       parentPort.on('message', (m) => {
         const start = Atomics.add(new Int32Array(m.shared), 0, m.chunk);
         for (let i = start; i < Math.min(start + m.chunk, m.jobs.to.length); i++) fs.writeFileSync(m.jobs.to[i], 'half');
         process.exit(3);
       });`,
    );
    let left = 0;
    // Counting the files it left: every one is removed before its copy is made here.
    const counting = faultyFs({
      unlinkSync: (p) => {
        if (fs.existsSync(String(p))) left++;
        return false;
      },
    });
    const out = await copyFiles(counting, jobs, { copy: { fsync: false, umask: process.umask() }, workerScript: dying, thisThread: false });
    assert.deepEqual(out.faults, []);
    assert.equal(out.byWorker, 0);
    assert.ok(left > 0, 'the worker left half-written files');
    assertCopied(to);
    removeDir(to);
  });

  it('stops at a drive failure in a batch, and starts no later batch', async () => {
    const to = join(root, 'to-full-batches');
    const jobs = jobsInto(to);
    // The 700th write fails: in the third batch of 300 (most files take one write, a few two).
    let writes = 0;
    const full = faultyFs({ writeSync: () => ++writes === 700 && 'ENOSPC' });
    const out = await copyFiles(full, jobs, { copy: { fsync: false, umask: process.umask() }, batch: 300 });
    assert.equal(out.faults.length, 1);
    const index = out.faults[0]?.index as number;
    assert.ok(index >= 600 && index < 900, `the failure is in the third batch (job ${index})`);
    assert.equal((out.faults[0]?.error as { code?: string }).code, 'ENOSPC');
    const copied = files.filter((f) => fs.existsSync(join(to, f.name))).length;
    assert.ok(copied < 900, `no batch after it was started (${copied} files)`);
    removeDir(to);
  });

  it('stops at a drive failure', async () => {
    const to = join(root, 'to-full');
    const jobs = jobsInto(to);
    const full = faultyFs({ writeSync: (_fd, n) => n === 5 && 'ENOSPC' });
    const out = await copyFiles(full, jobs, { copy: { fsync: false, umask: process.umask() } });
    assert.equal(out.faults.length, 1);
    assert.equal((out.faults[0]?.error as { code?: string }).code, 'ENOSPC');
    assert.ok(fs.readdirSync(join(to, 'd0')).length < files.length / 40, 'it stopped');
    removeDir(to);
  });
});

describe('copyVerified', () => {
  it('creates the copy with its final mode when the umask allows it, and fixes it when not', () => {
    const buffer = newRestoreBuffer();
    const src = join(root, 'one.txt');
    fs.writeFileSync(src, 'one');
    for (const [mode, umask] of [[0o664, 0o002], [0o664, 0o022], [0o2755, 0o022], [0o400, 0o077], [0o777, 0]] as const) {
      const dest = join(root, `one-${mode.toString(8)}-${umask.toString(8)}`);
      // Counting fchmod calls: none when the file could be created with its mode.
      const counting = faultyFs({ fchmodSync: () => false });
      const old = process.umask(umask);
      try {
        copyVerified(counting, src, dest, { size: 3, sha256: sha('one'), mtime_ns: MTIME_NS, mode, uid: 0, gid: 0 }, buffer, { umask, fsync: false });
      } finally {
        process.umask(old);
      }
      assert.equal(fs.statSync(dest).mode & 0o7777, mode, dest);
      const expectChmod = (mode & 0o777 & ~umask) !== mode;
      assert.equal(counting.calls.get('fchmodSync') ?? 0, expectChmod ? 1 : 0, `${dest}: fchmod calls`);
      fs.chmodSync(dest, 0o600);
    }
  });

  it('refuses a stored copy that is a FIFO without waiting for a writer', () => {
    const fifo = join(root, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo here: nothing to check
    const dest = join(root, 'fifo-copy');
    assert.throws(() => copyVerified(realFs, fifo, dest, { size: 0, sha256: sha(''), mtime_ns: MTIME_NS, mode: 0o644, uid: 0, gid: 0 }, newRestoreBuffer()), /not a regular file/);
    assert.equal(fs.existsSync(dest), false);
  });
});
