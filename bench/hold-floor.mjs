#!/usr/bin/env node
// The memory floor of a first run that keeps what it records about each file as JavaScript data
// until it writes the manifest: a synchronous walk (as bench/walk-floor.mjs) that keeps, per entry,
// what SPEC §2 records (path, type, size, mtime_ns, mode, uid, gid, sha256, since, source identity)
// in a Map by path, and does nothing else: no copy, no journal, no second thread. Run it under
// GNU time and compare its peak RSS with hardback's initial run on the same tree.
//
//   node bench/hold-floor.mjs <dir> [--as objects|lines] [--quiet]
//
// --as objects (default): one object per entry, its fields as hardback's entries have them.
// --as lines: one tab-separated string per entry instead (the manifest's own line, roughly).
// The sha256 is a real 64-hex string (of the path, not of the content: the content's would cost
// the time of reading 1 GiB and take the same memory).

import { readdirSync, lstatSync } from 'node:fs';
import { createHash } from 'node:crypto';

const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const asAt = args.indexOf('--as');
const as = asAt >= 0 ? args[asAt + 1] : 'objects';
const root = args.find((a, i) => !a.startsWith('--') && (asAt < 0 || i !== asAt + 1));
if (!root || (as !== 'objects' && as !== 'lines')) {
  process.stderr.write('usage: hold-floor.mjs <dir> [--as objects|lines] [--quiet]\n');
  process.exit(2);
}

const since = '2026-11-26T040000Z';
const held = new Map();

function walk(abs, rel) {
  for (const name of readdirSync(abs)) {
    const path = rel === '' ? name : `${rel}/${name}`;
    const st = lstatSync(`${abs}/${name}`, { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    const sha256 = type === 'file' ? createHash('sha256').update(path).digest('hex') : undefined;
    const ino = type === 'file' ? `${st.dev}:${st.ino}:${st.birthtimeNs}` : undefined;
    const e = { path, type, size: Number(st.size), mtime_ns: st.mtimeNs.toString(), mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), tracked: true, target: undefined, ino, sha256, since };
    held.set(path, as === 'objects' ? e : [JSON.stringify(path), e.type, e.size, e.mtime_ns, e.mode, e.uid, e.gid, e.sha256 ?? '', since, e.ino ?? ''].join('\t'));
    if (type === 'dir') walk(`${abs}/${name}`, path);
  }
}

walk(root.replace(/\/+$/, '') || '/', '');
const mem = process.memoryUsage();
if (!quiet) process.stdout.write(`${held.size} entries held as ${as}; heap used ${(mem.heapUsed / 1048576).toFixed(0)} MiB, rss ${(mem.rss / 1048576).toFixed(0)} MiB\n`);
