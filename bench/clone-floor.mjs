#!/usr/bin/env node
// The copy-strategy lever, measured: a reflink (FICLONE) of each file, then a read of the
// clone to hash it, against a read-hash-write copy, as a first backup would store a tree on the same
// filesystem as its source (a reflink cannot cross filesystems). Needs a filesystem that can
// reflink (XFS made with reflink=1, btrfs); see bench/README.md "Copy strategy: reflinks".
//
//   node bench/clone-floor.mjs <src> <dest> clone|copy
//
// Walks <src> synchronously (readdir with file types, a bigint lstat of every entry), makes every
// folder under <dest>, then stores the regular files on two threads (this one and a worker, 16 files
// claimed at a time from a shared counter), each with synchronous calls:
// - copy: open, read in 1 MiB chunks, sha256 of every byte, write to <dest>, close;
// - clone: copyFileSync with COPYFILE_FICLONE_FORCE (fails where the filesystem cannot reflink),
//   then open the clone, read and hash it, close.
// No modes, mtimes, flushes or records: add `sync -f <dest>` to the timed command to count the flush.
// Prints the mode, the file count and the seconds taken.

import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';

const CHUNK = 1 << 20;

function copyHash(s, d, buf) {
  const h = createHash('sha256');
  const i = fs.openSync(s, 'r');
  const o = fs.openSync(d, 'wx', 0o600);
  try {
    for (;;) {
      const n = fs.readSync(i, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
      for (let w = 0; w < n; ) w += fs.writeSync(o, buf, w, n - w);
    }
  } finally {
    fs.closeSync(i);
    fs.closeSync(o);
  }
  return h.digest('hex');
}

function cloneHash(s, d, buf) {
  fs.copyFileSync(s, d, fs.constants.COPYFILE_FICLONE_FORCE | fs.constants.COPYFILE_EXCL);
  const h = createHash('sha256');
  const i = fs.openSync(d, 'r');
  try {
    for (;;) {
      const n = fs.readSync(i, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(i);
  }
  return h.digest('hex');
}

function work(files, dsts, shared, mode) {
  const buf = Buffer.allocUnsafe(CHUNK);
  const store = mode === 'clone' ? cloneHash : copyHash;
  let x = 0;
  for (;;) {
    const i = Atomics.add(shared, 0, 16);
    if (i >= files.length) return x;
    for (let k = i; k < Math.min(i + 16, files.length); k++) x ^= store(files[k], dsts[k], buf).charCodeAt(3);
  }
}

if (!isMainThread) {
  const { files, dsts, sab, mode } = workerData;
  work(files, dsts, new Int32Array(sab), mode);
  parentPort.postMessage('done');
} else {
  const [src, dst, mode] = process.argv.slice(2);
  if (src === undefined || dst === undefined || (mode !== 'clone' && mode !== 'copy')) {
    console.error('usage: node bench/clone-floor.mjs <src> <dest> clone|copy');
    process.exit(2);
  }
  const t0 = performance.now();
  const files = [];
  const dsts = [];
  const walk = (s, d) => {
    fs.mkdirSync(d);
    for (const e of fs.readdirSync(s, { withFileTypes: true })) {
      const p = `${s}/${e.name}`;
      const q = `${d}/${e.name}`;
      fs.lstatSync(p, { bigint: true });
      if (e.isDirectory()) walk(p, q);
      else if (e.isFile()) {
        files.push(p);
        dsts.push(q);
      }
    }
  };
  walk(src, dst);
  const sab = new SharedArrayBuffer(4);
  const w = new Worker(new URL(import.meta.url), { workerData: { files, dsts, sab, mode } });
  const done = new Promise((resolve) => w.once('message', resolve));
  work(files, dsts, new Int32Array(sab), mode);
  await done;
  await w.terminate();
  console.log(`${mode} ${files.length} files ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}
