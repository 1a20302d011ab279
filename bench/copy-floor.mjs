#!/usr/bin/env node
// The Node floor of a first backup: what a Node program must do to copy a tree the way hardback's
// first run must, and nothing else (without --records: no journal, no manifest, no checks of the
// source, no increment.json).
//
//   node bench/copy-floor.mjs <src> <dest> [--threads N] [--flush | --flush-at-end] [--link <inc>] [--via-tmp] [--records <dir>]
//
// - walks <src> synchronously (readdir with file types, a bigint lstat of every entry, as a scan must),
//   makes every folder under <dest>, then copies the regular files on N threads (the main thread and
//   N-1 workers, default 2: this machine's cores), which claim them 16 at a time from one shared
//   counter. Each file with synchronous calls: open, read in 1 MiB chunks, sha256 of every byte,
//   write to its final name, the source's mode and mtime (and owner, where it differs), close.
//   Symlinks are recreated. Folders get their modes and mtimes last, as rsync -a.
// - --flush: makes the copies durable as hardback does: a `sync -f` of <dest> starts in the
//   background each time 4,096 files or 256 MiB have been copied since the last one started (one at
//   a time), and one more once every copy is closed; the program ends when it has.
// - --flush-at-end: makes the copies durable as a restore does (src/restore/write.ts, into a new
//   folder): one `sync -f` of <dest> once every copy is closed. The floor of `backup-tool recreate`,
//   run over a backup's mirror.
// - --link <inc>: increment 1 as SPEC §3 lays it out: every folder made again under <inc>, and a hard
//   link of every copied file there, made by the thread that copied it right after its close.
// - --via-tmp: each copy is written under a temp name in one folder (<dest>/.floor-tmp) and renamed to
//   its final name after its close, as hardback does so that a crash never leaves half a file under
//   a real name (docs/reliability.md): what that costs, the rest being equal.
// - --records <dir>: also the per-file records a backup keeps, each made the plainest way, by the
//   thread that copied the file: the source checked before and after its copy (a bigint fstat of
//   its descriptor, size and mtime_ns compared with the walk's), a journal line (8 hex of FNV-1a of
//   the JSON of a put, a space, the JSON) written per 4,096 files and fsynced on the threadpool
//   while the thread copies on, a manifest line
//   (tab-separated, the path as ASCII JSON) and an increment record (JSON with an ISO mtime), both
//   written once at the end and fsynced. Files under <dir>, one set per thread. Not hardback's order
//   (the journal before the renames, a flush before the journal): its work.
//
// Not a strict lower bound: it walks the whole tree before it copies, where hardback copies the
// first batch while it walks the next.
//
// Prints "files bytes sha-xor" (a checksum over every file's hash, so no work can be skipped).

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const CHUNK = 1 << 20;
/** Files claimed at a time. */
const CLAIM = 16;
/** hardback's batch where a flush makes it durable (src/apply/apply.ts). */
const FLUSH_FILES = 4096;
const FLUSH_BYTES = 256 * CHUNK;

/**
 * Copies the files this thread claims from `counter` until none is left; `onClaimed(files, bytes)`
 * after each claim, and `pause()` awaited between claims (the main thread lets its event loop run).
 */
async function copyClaims({ src, dest, inc, files, counter, tmp, records, thread }, onClaimed, pause) {
  const buf = Buffer.allocUnsafe(CHUNK);
  const rec = records === undefined ? undefined : new Records(records, thread);
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const next = new Int32Array(counter);
  const xor = Buffer.alloc(32);
  let bytes = 0;
  let seq = 0;
  for (;;) {
    const start = Atomics.add(next, 0, CLAIM);
    if (start >= files.length) break;
    const end = Math.min(files.length, start + CLAIM);
    let claimed = 0;
    for (let k = start; k < end; k++) {
      const [rel, size, mode, fuid, fgid, mtimeS, mtimeNs, ino] = files[k];
      const h = createHash('sha256');
      const inFd = fs.openSync(`${src}/${rel}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      if (rec) rec.check(inFd, size, mtimeNs);
      const out = tmp === undefined ? `${dest}/${rel}` : `${tmp}${seq++}`;
      const outFd = fs.openSync(out, 'wx', 0o600);
      let done = 0;
      while (done < size) {
        const n = fs.readSync(inFd, buf, 0, Math.min(CHUNK, size - done), null);
        if (n === 0) break;
        const chunk = n === CHUNK ? buf : buf.subarray(0, n);
        h.update(chunk);
        let off = 0;
        while (off < n) off += fs.writeSync(outFd, chunk, off, n - off);
        done += n;
      }
      if (fuid !== uid || fgid !== gid) fs.fchownSync(outFd, fuid, fgid);
      fs.fchmodSync(outFd, mode);
      fs.futimesSync(outFd, mtimeS, mtimeS);
      if (rec) rec.check(inFd, size, mtimeNs);
      fs.closeSync(outFd);
      fs.closeSync(inFd);
      const d = h.digest();
      if (rec) rec.add(rel, size, mode, fuid, fgid, mtimeNs, ino, d.toString('hex'), out);
      if (tmp !== undefined) fs.renameSync(out, `${dest}/${rel}`);
      if (inc) fs.linkSync(`${dest}/${rel}`, `${inc}/${rel}`);
      for (let i = 0; i < 32; i++) xor[i] ^= d[i];
      claimed += done;
    }
    bytes += claimed;
    onClaimed(end - start, claimed);
    await pause();
  }
  await rec?.finish();
  return { bytes, xor };
}

/** A thread's records of the files it copied (--records): a journal, a manifest, increment records. */
class Records {
  constructor(dir, thread) {
    this.journal = fs.openSync(`${dir}/journal-${thread}.jsonl`, 'wx');
    this.dir = dir;
    this.thread = thread;
    this.lines = [];
    this.manifest = [];
    this.records = [];
    this.synced = Promise.resolve();
  }
  check(fd, size, mtimeNs) {
    const st = fs.fstatSync(fd, { bigint: true });
    if (Number(st.size) !== size || st.mtimeNs.toString() !== mtimeNs) throw new Error('the source changed');
  }
  add(path, size, mode, uid, gid, mtimeNs, ino, sha256, tmp) {
    const entry = { path, type: 'file', size, mtime_ns: mtimeNs, mode, uid, gid, tracked: true, ino, sha256 };
    const json = JSON.stringify({ op: 'put', kind: 'new', entry, tmp });
    this.lines.push(`${fnv1a32(json).toString(16).padStart(8, '0')} ${json}\n`);
    const pathJson = asciiJson(path);
    this.manifest.push(`${pathJson}\tf:1:${size}:${mtimeNs}:${mode}\t${mtimeNs}\t${mode}\t${uid}\t${gid}\t${sha256}\t1\t${ino}\n`);
    const ms = mtimeNs.slice(0, -6);
    const mtime = new Date(ms === '' || ms === '-' ? 0 : Number(ms)).toISOString();
    this.records.push(`{"path":${JSON.stringify(path)},"type":"file","size":${size},"mtime":"${mtime}","mtime_ns":"${mtimeNs}","mode":${mode},"uid":${uid},"gid":${gid},"tracked":true,"sha256":"${sha256}"}`);
    if (this.lines.length === FLUSH_FILES) this.sync();
  }
  /** The lines so far written, and fsynced on libuv's threadpool while this thread goes on copying. */
  sync() {
    fs.writeSync(this.journal, this.lines.join(''));
    this.lines = [];
    const fd = this.journal;
    const before = this.synced;
    this.synced = new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve(before))));
  }
  async finish() {
    this.sync();
    await this.synced;
    fs.closeSync(this.journal);
    for (const [name, text] of [['manifest', this.manifest.join('')], ['increment.json', `{"new":[${this.records.join(',\n')}]}\n`]]) {
      const fd = fs.openSync(`${this.dir}/${name}-${this.thread}`, 'wx');
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
  }
}

// As src/store/journal.ts and src/meta/ascii-json.ts make them: this script runs with plain node,
// without a build, and imports nothing of src/.
function fnv1a32(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function asciiJson(value) {
  const json = JSON.stringify(value);
  return /[^\x00-\x7e]/.test(json) ? json.replace(/[^\x00-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}

if (!isMainThread) {
  const r = await copyClaims(workerData, (files, bytes) => parentPort.postMessage({ files, bytes }), () => undefined);
  parentPort.postMessage({ done: true, bytes: r.bytes, xor: r.xor });
} else {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const flag = (name) => {
    const i = args.indexOf(name);
    if (i >= 0) args.splice(i, 1);
    return i >= 0;
  };
  const threads = Number(opt('--threads', '2'));
  const inc = opt('--link', undefined);
  const flush = flag('--flush');
  const flushAtEnd = flag('--flush-at-end');
  const viaTmp = flag('--via-tmp');
  const records = opt('--records', undefined);
  const [src, dest] = args;
  if (!src || !dest || !(threads >= 1) || args.length !== 2) {
    process.stderr.write('usage: copy-floor.mjs <src> <dest> [--threads N] [--flush | --flush-at-end] [--link <inc>] [--via-tmp] [--records <dir>]\n');
    process.exit(2);
  }

  // the walk, and every folder made before any copy
  const files = [];
  const dirs = [];
  const walk = (rel) => {
    const abs = rel ? `${src}/${rel}` : src;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      const st = fs.lstatSync(`${src}/${r}`, { bigint: true });
      if (st.isDirectory()) {
        fs.mkdirSync(`${dest}/${r}`);
        if (inc) fs.mkdirSync(`${inc}/${r}`);
        dirs.push([r, Number(st.mode & 0o7777n), Number(st.mtimeNs) / 1e9]);
        walk(r);
      } else if (st.isFile()) {
        const file = [r, Number(st.size), Number(st.mode & 0o7777n), Number(st.uid), Number(st.gid), Number(st.mtimeNs) / 1e9];
        if (records) file.push(st.mtimeNs.toString(), `${st.dev}:${st.ino}:${st.birthtimeNs}`);
        files.push(file);
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(`${src}/${r}`), `${dest}/${r}`);
      }
    }
  };
  const top = fs.lstatSync(src, { bigint: true });
  fs.mkdirSync(dest, { recursive: true });
  if (inc) fs.mkdirSync(inc, { recursive: true });
  if (records) fs.mkdirSync(records, { recursive: true });
  walk('');
  const tmpDir = `${dest}/.floor-tmp`;
  if (viaTmp) fs.mkdirSync(tmpDir);
  const tmpOf = (t) => (viaTmp ? `${tmpDir}/${t}-` : undefined);

  // the flushes: one `sync -f` at a time in the background, started per hardback's batch
  let sinceFiles = 0;
  let sinceBytes = 0;
  let flushing = null;
  let flushFailed = null;
  const startFlush = () =>
    new Promise((resolve, reject) => {
      const p = spawn('sync', ['-f', dest], { stdio: 'ignore' });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sync -f: exit ${code}`))));
    });
  const onClaimed = (n, bytes) => {
    sinceFiles += n;
    sinceBytes += bytes;
    if (flush && (sinceFiles >= FLUSH_FILES || sinceBytes >= FLUSH_BYTES) && !flushing) {
      sinceFiles = 0;
      sinceBytes = 0;
      flushing = startFlush().then(
        () => (flushing = null),
        (err) => (flushFailed = err),
      );
    }
  };

  const counter = new SharedArrayBuffer(4);
  const xor = Buffer.alloc(32);
  let bytes = 0;
  const add = (r) => {
    bytes += r.bytes;
    for (let j = 0; j < 32; j++) xor[j] ^= r.xor[j];
  };
  const results = [];
  for (let t = 1; t < threads; t++) {
    results.push(
      new Promise((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { src, dest, inc, files, counter, tmp: tmpOf(t), records, thread: t } });
        w.on('message', (m) => (m.done ? resolve(m) : onClaimed(m.files, m.bytes)));
        w.on('error', reject);
      }),
    );
  }
  // this thread copies too, letting its event loop run every 256 files (flushes start, messages arrive)
  let sincePause = 0;
  const pause = () => {
    if ((sincePause += CLAIM) < 256) return undefined;
    sincePause = 0;
    return new Promise((res) => setImmediate(res));
  };
  add(await copyClaims({ src, dest, inc, files, counter, tmp: tmpOf(0), records, thread: 0 }, onClaimed, pause));
  for (const r of await Promise.all(results)) add(r);
  for (let i = dirs.length - 1; i >= 0; i--) {
    const [r, mode, mtimeS] = dirs[i];
    fs.chmodSync(`${dest}/${r}`, mode);
    fs.utimesSync(`${dest}/${r}`, mtimeS, mtimeS);
  }
  if (viaTmp) fs.rmdirSync(tmpDir);
  fs.utimesSync(dest, Number(top.mtimeNs) / 1e9, Number(top.mtimeNs) / 1e9);
  if (flush || flushAtEnd) {
    await flushing;
    if (flushFailed) throw flushFailed;
    await startFlush();
  }
  process.stdout.write(`${files.length} ${bytes} ${xor.toString('hex').slice(0, 16)}\n`);
}
