import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join, dirname } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import type { Profile } from '../../src/config/profiles.js';

/**
 * Test trees live on /dev/shm when it exists: this machine's root filesystem is slow at creating
 * files right after many were deleted.
 */
export function tempDir(prefix = 'hb-test-'): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return fs.mkdtempSync(join(base, prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A declarative tree: a string is a file's content, `{ dir: true }` an empty folder, `{ symlink }` a link. */
export type TreeSpec = Record<string, string | Buffer | { dir: true; mode?: number } | { symlink: string } | { content: string | Buffer; mode?: number; mtime?: number }>;

export function makeTree(root: string, spec: TreeSpec): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [rel, v] of Object.entries(spec)) {
    const p = join(root, rel);
    fs.mkdirSync(dirname(p), { recursive: true });
    if (typeof v === 'string' || Buffer.isBuffer(v)) fs.writeFileSync(p, v);
    else if ('dir' in v) {
      fs.mkdirSync(p, { recursive: true });
      if (v.mode !== undefined) fs.chmodSync(p, v.mode);
    } else if ('symlink' in v) fs.symlinkSync(v.symlink, p);
    else {
      fs.writeFileSync(p, v.content);
      if (v.mode !== undefined) fs.chmodSync(p, v.mode);
      if (v.mtime !== undefined) fs.utimesSync(p, v.mtime, v.mtime);
    }
  }
}

export interface TreeItem {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  size: number;
  sha256?: string;
  target?: string;
  /** mtime in whole milliseconds (what every filesystem we write to can hold) */
  mtimeMs: number;
  ino: number;
}

/** Every entry below `root` (not following symlinks), keyed by '/'-separated relative path. */
export function readTree(root: string, opts: { skip?: (rel: string) => boolean } = {}): Map<string, TreeItem> {
  const out = new Map<string, TreeItem>();
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (opts.skip?.(r)) continue;
      const p = join(dir, name);
      // BigInt: the millisecond from the exact nanoseconds. Node's float mtimeMs rounds a time within
      // ~120 ns of the next millisecond up into it (…715.999999 ms reads as 716), where a copy made
      // to the microsecond (libuv's futimes) stays at 715: one file in ~8,000, and a test failed on it.
      const st = fs.lstatSync(p, { bigint: true });
      const base = { mode: Number(st.mode & 0o7777n), mtimeMs: Number(st.mtimeNs / 1_000_000n), ino: Number(st.ino) };
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', size: 0, ...base });
        walk(p, r);
      } else if (st.isSymbolicLink()) out.set(r, { type: 'symlink', size: 0, target: fs.readlinkSync(p), ...base });
      else out.set(r, { type: 'file', size: Number(st.size), sha256: sha256File(p), ...base });
    }
  };
  walk(root, '');
  return out;
}

export function sha256File(p: string): string {
  return createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** The comparable view of a tree: without inode numbers and (for folders) mtimes. */
export function treeView(t: Map<string, TreeItem>, opts: { mtimes?: boolean } = {}): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of t) {
    const parts: (string | number)[] = [v.type, v.mode.toString(8)];
    if (v.type === 'file') parts.push(v.size, v.sha256 ?? '');
    if (v.type === 'symlink') parts.push(v.target ?? '');
    if (opts.mtimes && v.type === 'file') parts.push(v.mtimeMs);
    o[k] = parts.join(' ');
  }
  return o;
}

export function profileFor(src: string, dist: string, over: Partial<Profile> = {}): Profile {
  return {
    name: 'default',
    configFile: join(dist, '..', 'config.json'),
    src,
    dist,
    rules: {},
    maxWorkers: 4,
    checksum: false,
    maxDeleteRatio: 0.5,
    linkFallback: 'copy',
    keep: undefined,
    pruneAfterBackup: false,
    ...over,
  };
}

export const REPO = join(dirname(new URL(import.meta.url).pathname), '..', '..', '..');
export const BACKUP_JS = join(REPO, 'build', 'backup.js');
export const TOOL_JS = join(REPO, 'build', 'backup-tool.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns a built program with plain node. */
export function runCli(script: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [script, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const isRootUser = (): boolean => process.getuid?.() === 0;
