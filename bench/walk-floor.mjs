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
const root = args.find((a) => !a.startsWith('--'));
if (!root) {
  process.stderr.write('usage: walk-floor.mjs <dir> [--quiet] [--binding]\n');
  process.exit(2);
}

/**
 * Node's fs binding, where it answers for the root as hardback reads it (src/io/stat.ts): only on
 * the Node majors hardback asks it on, and only if its lstat of `dir` is a BigInt64Array of the
 * public call's (`st`) size and mtime. Otherwise the public lstatSync is timed, with a warning.
 */
function bindingFor(dir, st) {
  try {
    if ([20, 22, 24].includes(Number(process.versions.node.split('.')[0]))) {
      const b = process.binding('fs');
      const a = b.lstat(dir, true, undefined, {});
      if (a instanceof BigInt64Array && a.length >= 18 && a[8] === st.size && a[12] * 1000000000n + a[13] === st.mtimeNs) return b;
    }
  } catch {
    // not this Node's way: the public call it is
  }
  process.stderr.write("walk-floor: this Node's binding does not answer as hardback reads it; the public lstatSync is timed instead\n");
  return undefined;
}

const top = root.replace(/\/+$/, '') || '/';
// A root that cannot be read fails here, before anything is timed.
const rootStat = lstatSync(top, { bigint: true });
const raw = args.includes('--binding') ? bindingFor(top, rootStat) : undefined;

let entries = 0;
let files = 0;
let dirs = 0;
let bytes = 0n;
let mtimeSum = 0n; // uses every stat so nothing can be optimised away

function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    entries++;
    let size;
    let mtimeNs;
    // {} where hardback passes it: a failure throws (or, on older Node 20, is reported in it, and
    // no array comes back), and the public call is asked, as hardback does.
    const a = raw?.lstat(p, true, undefined, {});
    if (a instanceof BigInt64Array) {
      size = a[8];
      mtimeNs = a[12] * 1000000000n + a[13];
    } else {
      const st = lstatSync(p, { bigint: true });
      size = st.size;
      mtimeNs = st.mtimeNs;
    }
    mtimeSum += mtimeNs;
    if (e.isDirectory()) {
      dirs++;
      walk(p);
    } else {
      if (e.isFile()) files++;
      bytes += size;
    }
  }
}

walk(top);
if (!quiet) process.stdout.write(`${entries} ${files} ${dirs} ${bytes} ${mtimeSum % 1000n}\n`);
