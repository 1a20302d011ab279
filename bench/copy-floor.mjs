#!/usr/bin/env node
// The Node floor of a first backup: the least a Node program must do to copy a tree the way
// hardback's first run must, with nothing else (no journal, no manifest, no checks of the source,
// no temp names, no increment.json).
//
//   node bench/copy-floor.mjs <src> <dest> [--threads N] [--flush-every MiB] [--link <inc>] [--via-tmp]
//
// - walks <src> synchronously (readdir with file types, a bigint lstat of every entry, as a scan must),
//   makes every folder under <dest>, then copies the regular files on N threads (the main thread and
//   N-1 workers, default 2: this machine's cores), each file with synchronous calls: open, read in
//   1 MiB chunks, sha256 of every byte, write to its final name, the source's mode and mtime (and
//   owner, where it differs), close. Symlinks are recreated. Folders get their mtimes last, as rsync -a.
// - --flush-every MiB: makes the copies durable. A `sync -f` of <dest> starts in the background each
//   time that many MiB have been written since the last one started (one at a time, as hardback's
//   per-batch flush), and one more runs once every copy is closed; the program ends when it has.
// - --link <inc>: increment 1 as SPEC §3 lays it out: every folder made again under <inc>, and a hard
//   link of every copied file there, made by the thread that copied it right after its close.
// - --via-tmp: each copy is written under a temp name in one folder (<dest>/.floor-tmp) and renamed to
//   its final name after its close, as hardback does so that a crash never leaves half a file under
//   a real name (docs/reliability.md): what that costs, the rest being equal.
//
// Prints "files bytes sha-xor" (a checksum over every file's hash, so no work can be skipped).

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

const CHUNK = 1 << 20;
let tmpSeq = 0;

function copyShare({ src, dest, inc, files, flushEvery, tmp }, onBytes) {
  const buf = Buffer.allocUnsafe(CHUNK);
  const uid = process.getuid?.() ?? -1;
  const gid = process.getgid?.() ?? -1;
  const xor = Buffer.alloc(32);
  let bytes = 0;
  let sinceReport = 0;
  for (const [rel, size, mode, fuid, fgid, mtimeS] of files) {
    const h = createHash('sha256');
    const inFd = fs.openSync(`${src}/${rel}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const out = tmp === undefined ? `${dest}/${rel}` : `${tmp}${tmpSeq++}`;
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
    fs.closeSync(outFd);
    fs.closeSync(inFd);
    if (tmp !== undefined) fs.renameSync(out, `${dest}/${rel}`);
    if (inc) fs.linkSync(`${dest}/${rel}`, `${inc}/${rel}`);
    const d = h.digest();
    for (let i = 0; i < 32; i++) xor[i] ^= d[i];
    bytes += done;
    sinceReport += done;
    if (flushEvery > 0 && sinceReport >= CHUNK) {
      onBytes(sinceReport);
      sinceReport = 0;
    }
  }
  return { bytes, xor };
}

if (!isMainThread) {
  const r = copyShare(workerData, (n) => parentPort.postMessage({ bytes: n }));
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
  const threads = Number(opt('--threads', '2'));
  const flushEvery = Number(opt('--flush-every', '0')) * CHUNK;
  const inc = opt('--link', undefined);
  const viaTmp = args.includes('--via-tmp');
  if (viaTmp) args.splice(args.indexOf('--via-tmp'), 1);
  const [src, dest] = args;
  if (!src || !dest || !(threads >= 1) || args.length !== 2) {
    process.stderr.write('usage: copy-floor.mjs <src> <dest> [--threads N] [--flush-every MiB] [--link <inc>] [--via-tmp]\n');
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
        files.push([r, Number(st.size), Number(st.mode & 0o7777n), Number(st.uid), Number(st.gid), Number(st.mtimeNs) / 1e9]);
      } else if (st.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(`${src}/${r}`), `${dest}/${r}`);
      }
    }
  };
  const top = fs.lstatSync(src, { bigint: true });
  fs.mkdirSync(dest, { recursive: true });
  if (inc) fs.mkdirSync(inc, { recursive: true });
  walk('');
  const tmpDir = `${dest}/.floor-tmp`;
  if (viaTmp) fs.mkdirSync(tmpDir);
  const tmpOf = (t) => (viaTmp ? `${tmpDir}/${t}-` : undefined);

  // the flushes: one `sync -f` at a time in the background, started every flushEvery bytes
  let written = 0;
  let sinceFlush = 0;
  let flushing = null;
  const startFlush = () =>
    new Promise((resolve, reject) => {
      const p = spawn('sync', ['-f', dest], { stdio: 'ignore' });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sync -f: exit ${code}`))));
    });
  const onBytes = (n) => {
    written += n;
    sinceFlush += n;
    if (flushEvery > 0 && sinceFlush >= flushEvery && !flushing) {
      sinceFlush = 0;
      flushing = startFlush().then(() => (flushing = null));
    }
  };

  // shares: contiguous runs of the walk's order (a folder's files stay together on one thread)
  const per = Math.ceil(files.length / threads);
  const shares = [];
  for (let t = 0; t < threads; t++) shares.push(files.slice(t * per, (t + 1) * per));
  const xor = Buffer.alloc(32);
  let bytes = 0;
  const results = shares.slice(1).map(
    (share, t) =>
      new Promise((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { src, dest, inc, files: share, flushEvery, tmp: tmpOf(t + 1) } });
        w.on('message', (m) => {
          if (m.done) resolve(m);
          else onBytes(m.bytes);
        });
        w.on('error', reject);
      }),
  );
  // the main thread copies its share too, yielding now and then so flushes start and messages arrive
  const mine = shares[0];
  const SLICE = 256;
  for (let i = 0; i < mine.length; i += SLICE) {
    const r = copyShare({ src, dest, inc, files: mine.slice(i, i + SLICE), flushEvery, tmp: tmpOf(0) }, onBytes);
    bytes += r.bytes;
    for (let j = 0; j < 32; j++) xor[j] ^= r.xor[j];
    await new Promise((res) => setImmediate(res));
  }
  for (const r of await Promise.all(results)) {
    bytes += r.bytes;
    for (let j = 0; j < 32; j++) xor[j] ^= r.xor[j];
  }
  for (let i = dirs.length - 1; i >= 0; i--) {
    const [r, mode, mtimeS] = dirs[i];
    fs.chmodSync(`${dest}/${r}`, mode);
    fs.utimesSync(`${dest}/${r}`, mtimeS, mtimeS);
  }
  if (viaTmp) fs.rmdirSync(tmpDir);
  fs.utimesSync(dest, Number(top.mtimeNs) / 1e9, Number(top.mtimeNs) / 1e9);
  if (flushEvery > 0) {
    await flushing;
    await startFlush();
  }
  process.stdout.write(`${files.length} ${bytes} ${xor.toString('hex').slice(0, 16)}\n`);
}
