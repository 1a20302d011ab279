#!/usr/bin/env node
// Deterministic, seeded workload generator for the hardback benchmark (issue #5).
// Plain Node, no dependencies, no build step:
//
//   node bench/gen.mjs gen    <dir> --files N [--dirs D] [--seed S] [--total-mib M] [--mix default|small]
//   node bench/gen.mjs mutate <dir> --seed S [--modify PCT] [--delete PCT] [--add PCT]
//   node bench/gen.mjs move   <dir> --seed S [--target-mib 1024] [--dry-run]
//
// `gen` creates N files in D folders (depth 1–5) below <dir>. The same arguments always give the
// same tree: names, sizes, content, modes and mtimes. Each command prints one JSON line of
// statistics on stdout.
//
// `mutate` never writes into an existing file: a modified file is written to a temporary file
// beside it and renamed over it. So a tree made with `cp -al pristine copy` can be mutated
// without touching `pristine` (bench/run.sh relies on this).

import * as fs from 'node:fs';
import * as path from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;
/** 1 GiB per 100,000 files: the W1 workload of the issue. */
const BYTES_PER_FILE = (1024 * MiB) / 100_000;
/** All generated mtimes are before this instant (2024-06-01T00:00:00Z); mutations come after it. */
const BASE_EPOCH = 1_717_200_000;
const MAX_DEPTH = 5;
const POOL_SIZE = 8 * MiB;

// ---------------------------------------------------------------------------------------------
// PRNG: mulberry32, 32-bit state, plenty for a workload generator.

function mulberry32(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return {
    u32: next,
    /** uniform in [0, 1) */
    float: () => next() / 4294967296,
    /** integer in [0, n) */
    int: (n) => Math.floor((next() / 4294967296) * n),
    pick(arr) {
      return arr[Math.floor((next() / 4294967296) * arr.length)];
    },
  };
}

/** Derives independent streams from one user seed (so adding a draw in one part keeps the rest). */
function stream(seed, label) {
  let h = 2166136261 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 16777619);
  return mulberry32(h >>> 0);
}

function logUniform(rng, lo, hi) {
  return Math.floor(Math.exp(Math.log(lo) + rng.float() * (Math.log(hi) - Math.log(lo))));
}

// ---------------------------------------------------------------------------------------------
// Content: one seeded random pool, reused for every file; each file starts with a unique stamp
// so no two files have the same content.

function makePool(seed) {
  const rng = stream(seed, 'pool');
  const words = new Uint32Array(POOL_SIZE / 4);
  for (let i = 0; i < words.length; i++) words[i] = rng.u32();
  return Buffer.from(words.buffer);
}

/** Writes `size` bytes (stamp + pool data from `offset`) to fd, in few syscalls. */
function writeContent(fd, pool, stamp, size, offset) {
  const head = stamp.subarray(0, Math.min(stamp.length, size));
  let left = size - head.length;
  let off = offset % POOL_SIZE;
  const first = Math.min(left, POOL_SIZE - off);
  fs.writevSync(fd, [head, pool.subarray(off, off + first)]);
  left -= first;
  off = 0;
  while (left > 0) {
    const n = Math.min(left, POOL_SIZE);
    fs.writeSync(fd, pool, 0, n);
    left -= n;
  }
}

/** Creates (or, with a temp file and rename, replaces) one file with exact size, mode and mtime. */
function writeFile(file, { pool, stamp, size, offset, mode, mtime, replace }) {
  const target = replace ? path.join(path.dirname(file), `.${path.basename(file)}.gen-tmp`) : file;
  const fd = fs.openSync(target, replace ? 'w' : 'wx', mode);
  try {
    if (size > 0) writeContent(fd, pool, stamp, size, offset);
    fs.fchmodSync(fd, mode);
    fs.futimesSync(fd, mtime, mtime);
  } finally {
    fs.closeSync(fd);
  }
  if (replace) fs.renameSync(target, file);
}

// ---------------------------------------------------------------------------------------------
// Names.

const TOP_NAMES = [
  'Documents', 'Photos', 'Projects', 'Music', 'Archive', 'Downloads', 'Videos', 'Work',
  'Books', 'Code', 'Scans', 'Notes', 'Shared', 'Games', 'Taxes', 'Misc',
];
const DIR_WORDS = [
  'src', 'lib', 'assets', 'docs', 'data', 'images', 'old', 'drafts', 'invoices', 'reports',
  'test', 'build', 'vendor', 'raw', 'export', 'config', 'misc', 'backup', 'media', 'notes',
  '2019', '2020', '2021', '2022', '2023', 'q1', 'q2', 'q3', 'q4', 'clients',
];
const SPECIAL_DIRS = [
  'Vacances été', 'My Documents', 'Фотографии', '写真', 'Ελληνικά', 'New Folder', 'Año nuevo',
  'Übersicht', 'São Paulo trip', 'to sort',
];
const FILE_WORDS = [
  'report', 'notes', 'index', 'main', 'readme', 'data', 'draft', 'invoice', 'summary', 'todo',
  'letter', 'config', 'utils', 'test', 'style', 'page', 'list', 'budget', 'scan', 'chapter',
];
const EXT_SMALL = ['txt', 'md', 'json', 'ts', 'js', 'py', 'c', 'h', 'css', 'html', 'csv', 'xml', 'yml', 'ini', 'sh'];
const EXT_MEDIUM = ['jpg', 'png', 'pdf', 'docx', 'xlsx', 'odt', 'mp3', 'gif'];
const EXT_LARGE = ['mp4', 'iso', 'zip', 'tar', 'mkv', 'psd'];
const SPECIAL_FILES = [
  'Résumé final', 'naïve café', '日本語メモ', 'Привет мир', 'Meeting notes', 'copy of report',
  'Ελληνικά σημειώσεις', 'emoji 🎉 party', 'Cafe\u0301 decomposed', 'a  double  space', 'Straße',
];

function fileName(rng, cls, id, special) {
  const ext = rng.pick(cls === 'large' ? EXT_LARGE : cls === 'medium' ? EXT_MEDIUM : EXT_SMALL);
  if (special) return `${rng.pick(SPECIAL_FILES)} ${id}.${ext}`;
  if (cls === 'medium' && (ext === 'jpg' || ext === 'png')) return `IMG_${String(id).padStart(6, '0')}.${ext}`;
  return `${rng.pick(FILE_WORDS)}-${id}.${ext}`;
}

// ---------------------------------------------------------------------------------------------
// Sizes.

const SMALL = [64, 16 * KiB];
const MEDIUM = [16 * KiB, 1 * MiB];
const EMPTY_SHARE = 0.01;
const MEDIUM_SHARE = 0.02;

function drawSize(rng, mix) {
  const u = rng.float();
  if (u < EMPTY_SHARE) return { cls: 'empty', size: 0 };
  if (mix !== 'small' && u < EMPTY_SHARE + MEDIUM_SHARE) return { cls: 'medium', size: logUniform(rng, ...MEDIUM) };
  return { cls: 'small', size: logUniform(rng, ...SMALL) };
}

/**
 * Sizes for N files: ~1 % empty, most small (< 16 KiB), 2 % medium (16 KiB – 1 MiB), and one large
 * file per 10,000 (tens of MiB at W1) that takes up the rest of the target total, which is
 * 1 GiB per 100,000 files unless --total-mib says otherwise. Mix "small": no medium or large files.
 */
function planSizes(seed, n, mix, totalBytes) {
  const rng = stream(seed, 'sizes');
  const files = [];
  for (let i = 0; i < n; i++) files.push(drawSize(rng, mix));
  if (mix !== 'small' && n > 0) {
    const nLarge = Math.min(n, Math.max(1, Math.round(n / 10_000)));
    const large = new Set();
    while (large.size < nLarge) large.add(rng.int(n));
    let rest = totalBytes;
    for (let i = 0; i < n; i++) if (!large.has(i)) rest -= files[i].size;
    const weights = [...large].map(() => 0.5 + rng.float());
    const wsum = weights.reduce((a, b) => a + b, 0);
    let k = 0;
    for (const i of large) {
      files[i] = { cls: 'large', size: Math.max(MiB, Math.floor((rest * weights[k++]) / wsum)) };
    }
  }
  if (totalBytes !== undefined) {
    const sum = files.reduce((a, f) => a + f.size, 0);
    const f = sum > 0 ? totalBytes / sum : 1;
    if (Math.abs(f - 1) > 0.01) for (const x of files) if (x.size > 0) x.size = Math.max(1, Math.round(x.size * f));
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// Tree walking (sorted, so mutate/move are deterministic too).

function walk(root) {
  const files = [];
  const dirs = [];
  const visit = (rel) => {
    const abs = rel ? path.join(root, rel) : root;
    const entries = fs.readdirSync(abs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        dirs.push(r);
        visit(r);
      } else if (e.isFile()) files.push(r);
    }
  };
  visit('');
  return { files, dirs };
}

// ---------------------------------------------------------------------------------------------
// Commands.

function cmdGen(root, opt) {
  const n = int(opt.files ?? '100000', 'files');
  const nDirs = Math.max(1, int(opt.dirs ?? String(Math.max(1, Math.round(n / 25))), 'dirs'));
  const seed = int(opt.seed ?? '1', 'seed');
  const mix = opt.mix ?? 'default';
  if (mix !== 'default' && mix !== 'small') die(`--mix must be default or small, not ${mix}`);
  const totalBytes = opt['total-mib'] !== undefined ? num(opt['total-mib'], 'total-mib') * MiB : mix === 'small' ? undefined : n * BYTES_PER_FILE;

  if (fs.existsSync(root) && fs.readdirSync(root).length > 0) die(`${root} exists and is not empty`);
  fs.mkdirSync(root, { recursive: true });
  process.umask(0o022);

  // Folders: a few top-level ones with a skewed share of the files (the biggest holds ~30–40 %),
  // then nested ones, each under a random folder of the same top-level tree, depth ≤ 5.
  const rng = stream(seed, 'tree');
  const nTop = Math.min(nDirs, Math.max(3, Math.min(TOP_NAMES.length, Math.round(Math.sqrt(nDirs)))));
  const topOrder = [...TOP_NAMES];
  for (let i = topOrder.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [topOrder[i], topOrder[j]] = [topOrder[j], topOrder[i]];
  }
  const cum = topWeights(nTop);
  const pickTop = () => {
    const u = rng.float();
    let t = 0;
    while (t < nTop - 1 && u >= cum[t]) t++;
    return t;
  };
  const dirs = []; // { rel, depth }
  const subtree = []; // per top-level: indexes into dirs
  for (let t = 0; t < nTop; t++) {
    dirs.push({ rel: topOrder[t], depth: 1 });
    subtree.push([t]);
  }
  let specialDirs = 0;
  for (let k = nTop; k < nDirs; k++) {
    const t = pickTop();
    let parent = subtree[t][0];
    for (let tries = 0; tries < 8; tries++) {
      const p = rng.pick(subtree[t]);
      if (dirs[p].depth < MAX_DEPTH) {
        parent = p;
        break;
      }
    }
    const special = rng.float() < 0.02;
    if (special) specialDirs++;
    const name = special ? `${rng.pick(SPECIAL_DIRS)} ${k}` : `${rng.pick(DIR_WORDS)}-${k}`;
    dirs.push({ rel: `${dirs[parent].rel}/${name}`, depth: dirs[parent].depth + 1 });
    subtree[t].push(dirs.length - 1);
  }
  for (const d of dirs) fs.mkdirSync(path.join(root, d.rel), { mode: 0o755 });

  // Files.
  const sizes = planSizes(seed, n, mix, totalBytes);
  const pool = makePool(seed);
  const frng = stream(seed, 'files');
  let bytes = 0;
  let empty = 0;
  let special = 0;
  for (let i = 0; i < n; i++) {
    const { cls, size } = sizes[i];
    const d = dirs[rng.pick(subtree[pickTop()])];
    const isSpecial = frng.float() < 0.02;
    if (isSpecial) special++;
    const name = fileName(frng, cls, i, isSpecial);
    const mode = name.endsWith('.sh') ? 0o755 : frng.float() < 0.01 ? 0o600 : 0o644;
    const mtime = BASE_EPOCH - frng.int(3 * 365 * 86400) - frng.int(1000) / 1000;
    const stamp = Buffer.from(`hardback-bench seed=${seed} file=${i}\n`);
    writeFile(path.join(root, d.rel, name), { pool, stamp, size, offset: frng.u32(), mode, mtime });
    bytes += size;
    if (size === 0) empty++;
  }

  // Folder mtimes last (creating entries changed them).
  const drng = stream(seed, 'dir-mtimes');
  for (const d of dirs) {
    const t = BASE_EPOCH - drng.int(3 * 365 * 86400);
    fs.utimesSync(path.join(root, d.rel), t, t);
  }
  fs.utimesSync(root, BASE_EPOCH, BASE_EPOCH);

  const tops = topLevelSizes(root);
  out({
    cmd: 'gen', seed, files: n, dirs: nDirs, bytes, mib: +(bytes / MiB).toFixed(1), empty,
    special_names: special, special_dirs: specialDirs, max_depth: dirs.reduce((m, d) => Math.max(m, d.depth), 0),
    largest_file: sizes.reduce((m, s) => Math.max(m, s.size), 0), top_level: tops,
  });
}

/** Cumulative Zipf weights over the top-level folders, flattened so the first holds ≤ 40 %. */
function topWeights(nTop) {
  const z = Array.from({ length: nTop }, (_, i) => 1 / (i + 1));
  const zs = z.reduce((a, b) => a + b, 0);
  let w = z.map((x) => x / zs);
  const cap = 0.4;
  if (w[0] > cap && nTop > 2) {
    const a = (cap - 1 / nTop) / (w[0] - 1 / nTop);
    w = w.map((x) => a * x + (1 - a) / nTop);
  }
  const cum = [];
  let acc = 0;
  for (const x of w) cum.push((acc += x));
  return cum;
}

function cmdMutate(root, opt) {
  const seed = int(opt.seed ?? '1', 'seed');
  const pMod = num(opt.modify ?? '1', 'modify');
  const pDel = num(opt.delete ?? '0', 'delete');
  const pAdd = num(opt.add ?? '0', 'add');
  process.umask(0o022);
  const { files, dirs } = walk(root);
  const rng = stream(seed, 'mutate');
  const nMod = Math.round((files.length * pMod) / 100);
  const nDel = Math.min(files.length - nMod, Math.round((files.length * pDel) / 100));
  const nAdd = Math.round((files.length * pAdd) / 100);

  // Partial Fisher–Yates: the first nMod picks are modified, the next nDel deleted.
  const idx = Array.from(files, (_, i) => i);
  for (let i = 0; i < nMod + nDel; i++) {
    const j = i + rng.int(idx.length - i);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const pool = makePool(seed ^ 0x5a5a5a5a);
  const newMtime = () => BASE_EPOCH + 30 * 86400 + rng.int(86400) + rng.int(1000) / 1000;
  let bytes = 0;
  for (let k = 0; k < nMod; k++) {
    const rel = files[idx[k]];
    const abs = path.join(root, rel);
    const st = fs.lstatSync(abs);
    // Half keep their size (only content and mtime change), half grow or shrink.
    let size = st.size;
    if (size === 0) size = logUniform(rng, ...SMALL);
    else if (rng.float() < 0.5) size = Math.max(1, Math.round(size * (0.5 + rng.float())));
    const stamp = Buffer.from(`hardback-bench mutate seed=${seed} file=${rel}\n`);
    writeFile(abs, { pool, stamp, size, offset: rng.u32(), mode: st.mode & 0o7777, mtime: newMtime(), replace: true });
    bytes += size;
  }
  for (let k = nMod; k < nMod + nDel; k++) fs.unlinkSync(path.join(root, files[idx[k]]));
  const allDirs = dirs.length > 0 ? dirs : [''];
  for (let k = 0; k < nAdd; k++) {
    const { cls, size } = drawSize(rng, 'default');
    const name = `added-${seed}-${fileName(rng, cls, k, rng.float() < 0.02)}`;
    const stamp = Buffer.from(`hardback-bench add seed=${seed} file=${k}\n`);
    const file = path.join(root, rng.pick(allDirs), name);
    writeFile(file, { pool, stamp, size, offset: rng.u32(), mode: 0o644, mtime: newMtime() });
    bytes += size;
  }
  out({ cmd: 'mutate', seed, files_before: files.length, modified: nMod, deleted: nDel, added: nAdd, bytes_written: bytes });
}

function topLevelSizes(root) {
  const res = [];
  for (const e of fs.readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const { files } = walk(path.join(root, e.name));
    let bytes = 0;
    for (const f of files) bytes += fs.lstatSync(path.join(root, e.name, f)).size;
    res.push({ name: e.name, files: files.length, bytes });
  }
  return res.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
}

function cmdMove(root, opt) {
  const seed = int(opt.seed ?? '1', 'seed');
  const target = num(opt['target-mib'] ?? '1024', 'target-mib') * MiB;
  const tops = topLevelSizes(root);
  if (tops.length === 0) die(`${root} has no top-level folder to move`);
  // The smallest folder holding at least the target, else the biggest one.
  const big = tops.filter((t) => t.bytes >= target);
  const pick = big.length > 0 ? big[big.length - 1] : tops[0];
  const to = `${pick.name}.moved-${seed}`;
  if (!opt['dry-run']) fs.renameSync(path.join(root, pick.name), path.join(root, to));
  const allFiles = tops.reduce((a, t) => a + t.files, 0);
  out({ cmd: 'move', seed, from: pick.name, to, files: pick.files, bytes: pick.bytes, share_of_files: +(pick.files / Math.max(1, allFiles)).toFixed(3), dry_run: !!opt['dry-run'] });
}

// ---------------------------------------------------------------------------------------------
// CLI.

function die(msg) {
  process.stderr.write(`gen: ${msg}\n`);
  process.exit(2);
}
function int(s, name) {
  if (!/^\d+$/.test(s)) die(`--${name} wants a non-negative integer, not ${JSON.stringify(s)}`);
  return Number(s);
}
function num(s, name) {
  const v = Number(s);
  if (s === '' || !Number.isFinite(v) || v < 0) die(`--${name} wants a non-negative number, not ${JSON.stringify(s)}`);
  return v;
}
function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

const USAGE = `usage:
  gen.mjs gen    <dir> --files N [--dirs D] [--seed S] [--total-mib M] [--mix default|small]
  gen.mjs mutate <dir> --seed S [--modify PCT] [--delete PCT] [--add PCT]
  gen.mjs move   <dir> --seed S [--target-mib 1024] [--dry-run]`;

function main(argv) {
  const [cmd, dir, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!dir || dir.startsWith('--')) die(`missing <dir>\n${USAGE}`);
  const opt = {};
  const flags = new Set(['dry-run']);
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) die(`unexpected argument ${a}\n${USAGE}`);
    const key = a.slice(2);
    if (flags.has(key)) opt[key] = true;
    else if (i + 1 < rest.length) opt[key] = rest[++i];
    else die(`--${key} needs a value`);
  }
  const known = { gen: ['files', 'dirs', 'seed', 'total-mib', 'mix'], mutate: ['seed', 'modify', 'delete', 'add'], move: ['seed', 'target-mib', 'dry-run'] };
  if (!known[cmd]) die(`unknown command ${cmd}\n${USAGE}`);
  for (const k of Object.keys(opt)) if (!known[cmd].includes(k)) die(`unknown option --${k} for ${cmd}`);
  if (cmd === 'gen') cmdGen(dir, opt);
  else if (cmd === 'mutate') cmdMutate(dir, opt);
  else cmdMove(dir, opt);
}

main(process.argv.slice(2));
