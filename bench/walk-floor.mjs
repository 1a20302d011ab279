#!/usr/bin/env node
// The Node floor of a backup scan: a synchronous walk of a tree that reads every folder with
// readdirSync(withFileTypes) and lstats every entry with bigint (nanosecond) times, which is the
// least any Node backup tool must do to notice a change through Node's public API. Never follows
// symlinks. With --binding, each lstat reads its raw values from Node's fs binding instead (no
// stats object, no Dates), as hardback's scan does where that binding proves itself
// (src/io/stat.ts): the floor of that way of asking.
//
//   node bench/walk-floor.mjs <dir> [--quiet] [--binding]
//
// Prints "entries files dirs bytes" unless --quiet.

import { readdirSync, lstatSync } from 'node:fs';

const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const raw = args.includes('--binding') ? process.binding('fs') : undefined;
const root = args.find((a) => !a.startsWith('--'));
if (!root) {
  process.stderr.write('usage: walk-floor.mjs <dir> [--quiet] [--binding]\n');
  process.exit(2);
}

let entries = 0;
let files = 0;
let dirs = 0;
let bytes = 0n;
let mtimeSum = 0n; // uses every stat so nothing can be optimised away

function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    entries++;
    // {} where hardback passes it: an error throws (or, on older Node 20, is reported in it)
    const a = raw?.lstat(p, true, undefined, {});
    if (a instanceof BigInt64Array) {
      mtimeSum += a[12] * 1000000000n + a[13];
      if (e.isDirectory()) {
        dirs++;
        walk(p);
      } else {
        if (e.isFile()) files++;
        bytes += a[8];
      }
      continue;
    }
    const st = lstatSync(p, { bigint: true });
    mtimeSum += st.mtimeNs;
    if (e.isDirectory()) {
      dirs++;
      walk(p);
    } else {
      if (e.isFile()) files++;
      bytes += st.size;
    }
  }
}

lstatSync(root, { bigint: true });
if (raw !== undefined && !(raw.lstat(root, true, undefined, {}) instanceof BigInt64Array)) {
  process.stderr.write('walk-floor: this Node\'s binding does not answer as hardback reads it; the public lstatSync is timed instead\n');
}
walk(root.replace(/\/+$/, '') || '/');
if (!quiet) process.stdout.write(`${entries} ${files} ${dirs} ${bytes} ${mtimeSum % 1000n}\n`);
