import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Layout } from '../../src/store/layout.js';
import { readManifest } from '../../src/store/manifest.js';
import { parseIncrementJson, type IncrementJson } from '../../src/meta/increment.js';
import { readTree, sha256File, treeView } from './tree.js';

/**
 * The invariants every backup must satisfy once a run has finished (SPEC §6 "Interruption"), checked
 * from the disk alone. Each check returns a list of problems (empty = consistent) so a failing test
 * names every broken promise at once.
 */

/** One stored version: a tracked file's content recorded by an increment. */
export interface Version {
  id: string;
  path: string;
  sha256: string;
}

/** Names the engine gives its temp files (src/io/atomic.ts tmpName): `hb-<pid36>-<token>…`, `.<name>.tmp-<pid36>-<token>`, `.lock-<pid36>-<token>`. */
export const TEMP_NAME = /(^hb-[0-9a-z]+-[0-9a-z]+)|(\.tmp-[0-9a-z]+-[0-9a-z-]+$)|(^\.lock-[0-9a-z]+-[0-9a-z-]+$)/;

export function listIncrements(dist: string): string[] {
  const dir = join(dist, 'increments');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort();
}

/** The parsed increment.json of one increment, or a reason why it cannot be read. */
export function readIncrement(dist: string, id: string): { ok: true; value: IncrementJson } | { ok: false; reason: string } {
  const file = join(dist, 'increments', id, 'increment.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, reason: `${file}: ${(err as Error).message}` };
  }
  const parsed = parseIncrementJson(text, id);
  return parsed.ok ? { ok: true, value: parsed.value } : { ok: false, reason: `${file}: ${parsed.reason}` };
}

/** Every tracked file version that complete increments record (new, changed and deleted lists). */
export function completeVersions(dist: string): Version[] {
  const out: Version[] = [];
  for (const id of listIncrements(dist)) {
    const inc = readIncrement(dist, id);
    if (!inc.ok || !inc.value.complete) continue;
    for (const r of [...inc.value.new, ...inc.value.changed, ...inc.value.deleted]) {
      if (r.type === 'file' && r.tracked && r.sha256 !== undefined) out.push({ id, path: r.path, sha256: r.sha256 });
    }
  }
  return out;
}

function walkFiles(root: string, rel = '', out: string[] = []): string[] {
  if (!fs.existsSync(root)) return out;
  for (const name of fs.readdirSync(join(root, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    const st = fs.lstatSync(join(root, r));
    if (st.isDirectory()) walkFiles(root, r, out);
    else out.push(r);
  }
  return out;
}

function walkAll(root: string, rel = '', out: string[] = []): string[] {
  if (!fs.existsSync(root)) return out;
  for (const name of fs.readdirSync(join(root, rel))) {
    const r = rel === '' ? name : `${rel}/${name}`;
    out.push(r);
    if (fs.lstatSync(join(root, r)).isDirectory()) walkAll(root, r, out);
  }
  return out;
}

export interface CheckOptions {
  /** The mirror must equal this source tree exactly (type, mode, size, content, link target, file mtime). */
  source?: string;
  /** These versions (recorded by complete increments earlier) must still be stored and readable. */
  versions?: readonly Version[];
  /** The destination cannot hold Unix modes (exFAT): skip mode comparisons. */
  ignoreModes?: boolean;
  /** A run may still be pending (a journal kept after a failure): skip the no-journal check. */
  allowJournal?: boolean;
  /** The run failed: its lock may be left (the next run takes a dead process's lock over). */
  allowLock?: boolean;
}

/**
 * Checks a destination after a finished run:
 * - no journal, no lock, nothing left in .hardback/tmp, no temp-named file anywhere;
 * - the manifest is readable and matches the mirror exactly (every entry present with its type, mode,
 *   size, sha256 or target; nothing else in the mirror);
 * - every increment folder has a readable increment.json; every tracked file it records is stored in
 *   files/ or deleted/ and hashes to the recorded sha256; nothing unrecorded lies there;
 * - in hardlink mode, a tracked mirror file shares its inode with the increment that saved it;
 * - with `source`: the mirror equals the source; with `versions`: each is still stored somewhere.
 */
export function checkBackup(dist: string, opts: CheckOptions = {}): string[] {
  const problems: string[] = [];
  const layout = new Layout(dist);
  if (!opts.allowJournal && fs.existsSync(layout.journal)) problems.push('a journal was left behind');
  if (!opts.allowJournal && !opts.allowLock && fs.existsSync(layout.lock)) problems.push('a lock was left behind');
  if (fs.existsSync(layout.tmp)) {
    // While a journal is pending, its temp files are what tells the next run which changes did not happen.
    if (!opts.allowJournal) for (const name of fs.readdirSync(layout.tmp)) problems.push(`.hardback/tmp/${name} left behind`);
  }
  for (const rel of [...walkAll(layout.mirror).map((r) => `mirror/${r}`), ...walkAll(layout.increments).map((r) => `increments/${r}`), ...walkAll(layout.state).map((r) => `.hardback/${r}`)]) {
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    if (TEMP_NAME.test(name) && !rel.startsWith('.hardback/tmp/')) problems.push(`temp file left: ${rel}`);
  }

  // Manifest ↔ mirror.
  let manifest: ReturnType<typeof readManifest> | undefined;
  try {
    manifest = readManifest(fs, layout.manifest);
  } catch (err) {
    problems.push(`manifest unreadable: ${(err as Error).message}`);
  }
  const mirror = fs.existsSync(layout.mirror) ? readTree(layout.mirror) : new Map();
  if (manifest !== undefined && !opts.allowJournal) {
    for (const [path, e] of manifest.entries) {
      const m = mirror.get(path);
      if (m === undefined) {
        problems.push(`manifest lists ${path} but the mirror lacks it`);
        continue;
      }
      if (m.type !== e.type) problems.push(`${path}: manifest says ${e.type}, mirror holds ${m.type}`);
      else if (!opts.ignoreModes && e.type !== 'symlink' && m.mode !== e.mode) problems.push(`${path}: manifest mode ${e.mode.toString(8)}, mirror ${m.mode.toString(8)}`);
      if (e.type === 'file' && m.type === 'file' && (m.size !== e.size || m.sha256 !== e.sha256)) problems.push(`${path}: mirror content differs from the manifest's sha256`);
      if (e.type === 'symlink' && m.target !== e.target) problems.push(`${path}: mirror link target ${m.target} != ${e.target}`);
    }
    for (const path of mirror.keys()) if (!manifest.entries.has(path)) problems.push(`mirror holds ${path}, which the manifest does not list`);
  }

  // Increments.
  const stored = new Set<string>();
  let anyCopyMode = false;
  for (const id of listIncrements(dist)) {
    const inc = readIncrement(dist, id);
    if (!inc.ok) {
      problems.push(`increment ${id}: ${inc.reason}`);
      continue;
    }
    const j = inc.value;
    if (j.link_mode === 'copy') anyCopyMode = true;
    if (j.complete && j.finished === null) problems.push(`increment ${id}: complete without "finished"`);
    const expectFiles = new Set<string>();
    const expectDeleted = new Set<string>();
    const check = (sub: 'files' | 'deleted', path: string, sha: string | undefined) => {
      const p = join(layout.incrementDir(id), sub, path);
      if (!fs.existsSync(p)) {
        problems.push(`increment ${id}: ${sub}/${path} is recorded but missing`);
        return;
      }
      const h = sha256File(p);
      if (h !== sha) problems.push(`increment ${id}: ${sub}/${path} hashes to ${h.slice(0, 12)}, recorded ${String(sha).slice(0, 12)}`);
      else stored.add(`${path}\0${h}`);
    };
    for (const r of [...j.new, ...j.changed]) {
      if (r.type !== 'file' || !r.tracked) continue;
      expectFiles.add(r.path);
      check('files', r.path, r.sha256);
    }
    for (const r of j.deleted) {
      if (r.type !== 'file' || !r.tracked) continue;
      expectDeleted.add(r.path);
      check('deleted', r.path, r.sha256);
    }
    for (const f of walkFiles(join(layout.incrementDir(id), 'files'))) if (!expectFiles.has(f)) problems.push(`increment ${id}: files/${f} is not recorded in increment.json`);
    for (const f of walkFiles(join(layout.incrementDir(id), 'deleted'))) if (!expectDeleted.has(f)) problems.push(`increment ${id}: deleted/${f} is not recorded in increment.json`);
    for (const name of fs.readdirSync(layout.incrementDir(id))) {
      if (!['files', 'deleted', 'increment.json'].includes(name)) problems.push(`increment ${id}: unexpected ${name}`);
    }
  }

  // A tracked mirror file is the very inode its increment holds (stored once).
  if (manifest !== undefined && !anyCopyMode && !opts.allowJournal) {
    for (const [path, e] of manifest.entries) {
      if (e.type !== 'file' || !e.tracked || e.since === undefined) continue;
      const inInc = join(layout.incrementFile(e.since, path));
      const m = mirror.get(path);
      if (!fs.existsSync(layout.incrementDir(e.since)) || m === undefined) continue;
      const st = fs.lstatSync(inInc, { throwIfNoEntry: false });
      if (st === undefined) problems.push(`${path}: its version's increment ${e.since} lacks files/${path}`);
      else if (st.ino !== m.ino) problems.push(`${path}: mirror and increments/${e.since}/files/${path} are different inodes (stored twice)`);
    }
  }

  for (const v of opts.versions ?? []) {
    if (!stored.has(`${v.path}\0${v.sha256}`)) problems.push(`version lost: ${v.path} ${v.sha256.slice(0, 12)} (saved by ${v.id})`);
  }

  if (opts.source !== undefined) problems.push(...compareTrees(opts.source, layout.mirror, opts.ignoreModes === true));
  return problems;
}

/** Differences between a source tree and the mirror: type, mode, size, content, target, file mtime (±1 ms). */
export function compareTrees(src: string, mirror: string, ignoreModes = false): string[] {
  const problems: string[] = [];
  const a = readTree(src);
  const b = fs.existsSync(mirror) ? readTree(mirror) : new Map();
  const va = treeView(a);
  const vb = treeView(b);
  const strip = (s: string) => (ignoreModes ? s.split(' ').filter((_, i) => i !== 1).join(' ') : s);
  for (const [k, v] of Object.entries(va)) {
    if (vb[k] === undefined) problems.push(`mirror lacks ${k}`);
    else if (strip(vb[k]) !== strip(v)) problems.push(`mirror ${k}: ${vb[k]} != source ${v}`);
    else {
      const x = a.get(k);
      const y = b.get(k);
      if (x?.type === 'file' && y !== undefined && Math.abs(x.mtimeMs - y.mtimeMs) > 1) problems.push(`mirror ${k}: mtime ${y.mtimeMs} != source ${x.mtimeMs}`);
    }
  }
  for (const k of Object.keys(vb)) if (va[k] === undefined) problems.push(`mirror holds ${k}, not in the source`);
  return problems;
}

/** A pid that is certainly not running (a child that has exited). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

/** `cp -a`: keeps hard links, modes, owners and times, so a copy of a destination is an exact image of it. */
export function copyExact(from: string, to: string): void {
  const r = spawnSync('cp', ['-a', from, to], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`);
}

/** rm -rf that also works without root on trees holding read-only folders (a mirror of a 0555 folder). */
export function removeAll(dir: string): void {
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    spawnSync('chmod', ['-R', 'u+rwX', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
