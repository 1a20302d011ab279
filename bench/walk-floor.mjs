#!/usr/bin/env node
// The Node floor of a backup scan: a synchronous walk of a tree that reads every folder with
// readdirSync(withFileTypes) and lstats every entry with bigint (nanosecond) times, which is the
// least any Node backup tool must do to notice a change. Never follows symlinks.
//
//   node bench/walk-floor.mjs <dir> [--quiet]
//
// Prints "entries files dirs bytes" unless --quiet.

import { readdirSync, lstatSync } from 'node:fs';

const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const root = args.find((a) => a !== '--quiet');
if (!root) {
  process.stderr.write('usage: walk-floor.mjs <dir> [--quiet]\n');
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
    const st = lstatSync(p, { bigint: true });
    entries++;
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
walk(root.replace(/\/+$/, '') || '/');
if (!quiet) process.stdout.write(`${entries} ${files} ${dirs} ${bytes} ${mtimeSum % 1000n}\n`);
