import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Fs } from '../../src/io/fs.js';
import { after, before } from 'node:test';
import { removeDir, tempDir } from './tree.js';
import { bytesOfWrite } from './fault-images.js';

/**
 * Puts a `sync` of its own first on PATH for this process's runs (src/io/durability.ts runs `sync
 * -f DIST`): a shell script with `lines` for its body, in a folder of its own (`bin`, where the
 * script may keep state). Returns the function that undoes it.
 */
export function syncOnPath(lines: (bin: string) => string[]): () => void {
  const bin = tempDir('hb-sync-');
  fs.writeFileSync(join(bin, 'sync'), ['#!/bin/sh', ...lines(bin), ''].join('\n'), { mode: 0o755 });
  const before = process.env.PATH;
  process.env.PATH = `${bin}:${before ?? ''}`;
  return () => {
    process.env.PATH = before;
    fs.rmSync(bin, { recursive: true, force: true });
  };
}

/**
 * Makes this process's runs fsync each copied file, as on a platform without syncfs(2)
 * (src/io/durability.ts asks `sync -f DIST` whether one flush per batch is possible): a `sync` that
 * always fails is put first on PATH. A run then commits its puts 256 at a time instead of 4096, so
 * a test tree of a few hundred files spans several batches. Returns the function that undoes it.
 */
export const perFileDurability = (): (() => void) => syncOnPath(() => ['exit 1']);

const realSync = spawnSync('sh', ['-c', 'command -v sync'], { encoding: 'utf8' }).stdout.trim();
/** Linux with a `sync -f` (syncfs) that works: a run flushes the destination with it. */
export const syncfsWorks = process.platform === 'linux' && realSync !== '' && spawnSync(realSync, ['-f', '/']).status === 0;

/**
 * A `sync` first on PATH that notes each call (`sync -f DIST`) into `log`, then fails (`fails`: a run
 * fsyncs per file, as without syncfs) or runs the real one. With `o.slowMs`, a flush that runs the
 * real one first waits that long (a slow disk), and notes its end (`synced -f DIST`) once the real one
 * exited. Returns the function that undoes it.
 */
export function loggingSync(log: string, fails: boolean, o: { slowMs?: number } = {}): () => void {
  const body = fails
    ? ['exit 1']
    : o.slowMs === undefined
      ? [`exec ${realSync} "$@"`]
      : [`sleep ${o.slowMs / 1000}`, `${realSync} "$@"; s=$?`, `echo "synced $*" >> '${log}'`, 'exit $s'];
  return syncOnPath(() => [`echo "sync $*" >> '${log}'`, ...body]);
}

/**
 * The set-up of a test file that logs runs' flushes and folder changes: a temp folder (`root`), made
 * before the file's tests and removed after them, holding the log (`log`); `useSync(fails)` puts
 * loggingSync on PATH in place of the one before (the last is undone after the tests).
 */
export function flushLogFixture(prefix: string): { readonly root: string; readonly log: string; useSync(fails: boolean): void } {
  let root = '';
  let undo: (() => void) | undefined;
  before(() => {
    root = tempDir(prefix);
  });
  after(() => {
    undo?.();
    removeDir(root);
  });
  return {
    get root() {
      return root;
    },
    get log() {
      return join(root, 'log');
    },
    useSync(fails) {
      undo?.();
      undo = loggingSync(join(root, 'log'), fails);
    },
  };
}

/**
 * A `sync` first on PATH whose `n`th call fails (exit 1) and whose others run the real one: with
 * n = 2, a run's probe finds syncfs working and its first flush of a batch fails. Returns the
 * function that undoes it.
 */
export function failingSyncAt(n: number): () => void {
  return syncOnPath((bin) => {
    const count = join(bin, 'count');
    return [`n=$(($(cat '${count}' 2>/dev/null || echo 0) + 1))`, `echo $n > '${count}'`, `[ $n -eq ${n} ] && exit 1`, `exec ${realSync} "$@"`];
  });
}

/**
 * The real fs, noting into `log` each fsync (by the path its fd was opened on) and each call that
 * changes a folder's entries: `rename A B`, `link A B`, `symlink A B`, `copy A B` (copyFileSync),
 * `unlink P`, `rmdir P`, `mkdir P`. With loggingSync's lines in the same file, the log is the order
 * of flushes, fsyncs and changes to folders. `noLinks`: every link fails with EPERM, as on a drive
 * without hard links (a run then copies: link_mode "copy"). `creates`: each file opened to be
 * written, as it is opened (`create P`) and once it is closed (`close P`); changedFolders leaves
 * these out. `announcements`: each op written to the journal (`announce OP PATH`, PATH the op's
 * entry's). An fsync on libuv's threadpool (`fs.fsync`) is noted as it begins and once it is over
 * (below). `closeDelayMs`: each file opened for writing takes that long to close (with `creates`:
 * a copy that takes a known time).
 */
export function loggingFs(log: string, o: { noLinks?: boolean; creates?: boolean; announcements?: boolean; closeDelayMs?: number } = {}): Fs {
  const paths = new Map<number, string>();
  let asyncFsyncs = 0;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  /** Descriptors opened for writing (`creates`). */
  const written = new Set<number>();
  const note = (line: string) => fs.appendFileSync(log, `${line}\n`);
  return new Proxy(fs as Fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'openSync')
        return (p: string, flags?: string | number, mode?: number) => {
          const fd = fs.openSync(p, flags ?? 'r', mode);
          if (o.creates === true && typeof flags === 'string' && flags.includes('w')) {
            note(`create ${String(p)}`);
            written.add(fd);
          }
          paths.set(fd, String(p));
          return fd;
        };
      if (prop === 'closeSync' && o.creates === true)
        return (fd: number) => {
          fs.closeSync(fd);
          if (written.delete(fd)) {
            note(`close ${paths.get(fd) ?? '?'}`);
            if (o.closeDelayMs !== undefined) Atomics.wait(pause, 0, 0, o.closeDelayMs);
          }
        };
      if (prop === 'fsyncSync')
        return (fd: number) => {
          note(`fsync ${paths.get(fd) ?? '?'}`);
          fs.fsyncSync(fd);
        };
      // The journal's fsync off the thread (JournalWriter.syncAsync): `fsync-begin P #k` as it
      // begins; `fsync P`, then `fsync-end #k`, once it is over (so a change logged after it was
      // made after the fsync, not only after it began; k pairs the two, as fsyncs may overlap).
      if (prop === 'fsync')
        return (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
          const k = ++asyncFsyncs;
          note(`fsync-begin ${paths.get(fd) ?? '?'} #${k}`);
          fs.fsync(fd, (err) => {
            if (err === null) note(`fsync ${paths.get(fd) ?? '?'}\nfsync-end #${k}`);
            cb(err);
          });
        };
      if (prop === 'writeSync' && o.announcements === true)
        return (fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
          const n = (fs.writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
          // A line is a checksum of 8 hex digits, a space, and the op as JSON; the lines come as bytes
          // (offset and length follow), a string is read as well.
          if (paths.get(fd)?.endsWith('/journal.jsonl') === true) {
            // What was written (n bytes), not what was asked for.
            const text = bytesOfWrite(data, rest[0] as number | undefined).subarray(0, n).toString('utf8');
            for (const line of text.split('\n')) {
              const op = line.length > 9 ? (JSON.parse(line.slice(9)) as { op?: string; entry?: { path?: string } }) : undefined;
              if (op?.op !== undefined && op.entry?.path !== undefined) note(`announce ${op.op} ${op.entry.path}`);
            }
          }
          return n;
        };
      if (prop === 'renameSync')
        return (a: string, b: string) => {
          note(`rename ${a} ${b}`);
          fs.renameSync(a, b);
        };
      if (prop === 'linkSync' && o.noLinks === true)
        return (a: string, b: string) => {
          throw Object.assign(new Error(`EPERM: operation not permitted, link '${a}' -> '${b}'`), { code: 'EPERM', syscall: 'link' });
        };
      if (prop === 'copyFileSync')
        return (a: string, b: string, mode?: number) => {
          fs.copyFileSync(a, b, mode);
          note(`copy ${a} ${b}`);
        };
      if (prop === 'linkSync' || prop === 'symlinkSync')
        return (a: string, b: string) => {
          (fs[prop] as (a: string, b: string) => void)(a, b);
          note(`${prop.slice(0, -4)} ${a} ${b}`);
        };
      if (prop === 'unlinkSync' || prop === 'rmdirSync')
        return (p: string) => {
          fs[prop](p);
          note(`${prop.slice(0, -4)} ${p}`);
        };
      if (prop === 'mkdirSync')
        return (p: string, o?: fs.MakeDirectoryOptions & { recursive?: boolean }) => {
          const made = fs.mkdirSync(p, o);
          // A recursive mkdir of a folder that exists makes nothing.
          if (o?.recursive !== true || made !== undefined) note(`mkdir ${p}`);
          return made;
        };
      return value;
    },
  });
}

/** The log's lines. */
export const logLines = (log: string): string[] => fs.readFileSync(log, 'utf8').trim().split('\n').filter((l) => l !== '');

/**
 * The folders each logged change (loggingFs) changed: a rename both folders, a link, symlink or
 * copy the new name's, an unlink, rmdir or mkdir the named path's parent.
 */
export function changedFolders(line: string): string[] {
  const [op, a, b] = line.split(' ') as [string, string, string | undefined];
  if (op === 'rename') return [dirname(a), dirname(b as string)];
  if (op === 'link' || op === 'symlink' || op === 'copy') return [dirname(b as string)];
  if (op === 'unlink' || op === 'rmdir' || op === 'mkdir') return [dirname(a)];
  return [];
}
