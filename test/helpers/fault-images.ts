import * as realFs from 'node:fs';
import { join, resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import type { Fs } from '../../src/io/fs.js';
import { copyExact } from './fault-check.js';

/**
 * Crash images through the fs seam. A process killed with SIGKILL (or a kernel that stops after the
 * page cache was written) leaves the destination exactly as it was between two system calls. This
 * Fs takes a `cp -a` copy of the destination just before every call that changes it, so a single
 * run yields every state a crash could leave behind, each one a real folder the next run can be
 * pointed at.
 */

/** Calls that change what is on disk (fd-based metadata calls on temp files are left out: temp content is never trusted). */
const MUTATING = new Set([
  'mkdirSync',
  'rmdirSync',
  'rmSync',
  'renameSync',
  'linkSync',
  'unlinkSync',
  'symlinkSync',
  'copyFileSync',
  'openSync',
  'writeSync',
  'writeFileSync',
  'chmodSync',
  'chownSync',
  'lchownSync',
  'utimesSync',
  'lutimesSync',
]);

export interface CrashImage {
  /** 1-based position of the call in the run. */
  n: number;
  /** The call about to be made, e.g. `renameSync mirror/a.txt`. */
  call: string;
  dir: string;
  /** A journal line was being written: this image holds the first half of it (a torn line). */
  torn?: boolean;
}

function creates(flags: unknown): boolean {
  if (flags === undefined) return false;
  if (typeof flags === 'number') return (flags & (realFs.constants.O_WRONLY | realFs.constants.O_RDWR | realFs.constants.O_CREAT)) !== 0;
  return /[wa+]/.test(String(flags));
}

function pathArg(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString();
  if (v instanceof URL) return v.pathname;
  return undefined;
}

export interface ImagingFs {
  fs: Fs;
  images: CrashImage[];
  /** Number of mutating calls seen (imaged or not). */
  calls(): number;
}

/** What a writeSync(fd, data, offset?, length?) call was given to write, as bytes. */
export function bytesOfWrite(data: string | NodeJS.ArrayBufferView, offset = 0, length?: number): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset + offset, length ?? data.byteLength - offset);
}

/**
 * An Fs that images `dist` into `imagesDir/<n>` before each mutating call on it.
 * `every`: image only every k-th call (1 = all); `pick`, when given, chooses instead, from the call's
 * number and what it is (e.g. `mkdirSync mirror/a/b`). Torn journal lines are imaged too (`torn: true`).
 */
export function imagingFs(dist: string, imagesDir: string, opts: { every?: number; torn?: boolean; base?: Fs; pick?: (n: number, call: string) => boolean } = {}): ImagingFs {
  const base = opts.base ?? (realFs as Fs);
  const root = resolve(dist);
  const images: CrashImage[] = [];
  const every = opts.every ?? 1;
  let n = 0;
  realFs.mkdirSync(imagesDir, { recursive: true });
  const rel = (p: string) => (p.startsWith(root) ? p.slice(root.length + 1) : p);
  // The journal's descriptors: a write to one of them is a batch of journal lines, which a torn image cuts.
  const journalFds = new Set<number>();
  const proxy = new Proxy(base, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'closeSync' && typeof value === 'function')
        return (fd: number) => {
          journalFds.delete(fd);
          return (value as (fd: number) => void).call(target, fd);
        };
      if (typeof value !== 'function' || !MUTATING.has(String(prop))) return value;
      return (...args: unknown[]) => {
        const name = String(prop);
        const p = pathArg(args[0]);
        const onDist = p !== undefined ? resolve(p).startsWith(root) : true; // fd calls: the engine only writes fds on the destination
        const relevant = onDist && (name !== 'openSync' || creates(args[1]));
        if (relevant && realFs.existsSync(root)) {
          n++;
          const call = `${name} ${p === undefined ? `fd ${String(args[0])}` : rel(p)}`;
          if (opts.pick !== undefined ? opts.pick(n, call) : n % every === 0) {
            const dir = join(imagesDir, String(n));
            copyExact(root, dir);
            images.push({ n, call, dir });
            if (opts.torn && name === 'writeSync' && journalFds.has(args[0] as number)) {
              const journal = join(dir, '.hardback', 'journal.jsonl');
              if (realFs.existsSync(journal)) {
                const tdir = `${dir}-torn`;
                copyExact(dir, tdir);
                // The lines as bytes (offset and length follow), or as text; half of them, cut at a byte.
                const bytes = bytesOfWrite(args[1] as string | NodeJS.ArrayBufferView, args[2] as number | undefined, args[3] as number | undefined);
                realFs.appendFileSync(join(tdir, '.hardback', 'journal.jsonl'), bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2))));
                images.push({ n, call: `${name} (torn) fd ${String(args[0])}`, dir: tdir, torn: true });
              }
            }
          }
        }
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (name === 'openSync' && p !== undefined && resolve(p) === join(root, '.hardback', 'journal.jsonl')) journalFds.add(result as number);
        return result;
      };
    },
  });
  return { fs: proxy, images, calls: () => n };
}

/**
 * An Fs whose `op` fails with `code` at its `at`-th call on the destination (counting only calls on
 * paths under `dist`, or fd calls), passing every other call through. `hits()` tells whether the
 * fault fired; `count()` how many such calls the run made.
 */
export function nthCallFault(dist: string, op: keyof Fs, at: number, code: string, base: Fs = realFs as Fs): { fs: Fs; hits: () => number; count: () => number } {
  const root = resolve(dist);
  let n = 0;
  let hits = 0;
  const proxy = new Proxy(base, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function' || prop !== op) return value;
      return (...args: unknown[]) => {
        const p = pathArg(args[0]);
        if (p === undefined || resolve(p).startsWith(root)) {
          n++;
          if (n === at) {
            hits++;
            throw injected(code, String(op), args[0]);
          }
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { fs: proxy, hits: () => hits, count: () => n };
}

/** An error shaped like the one node:fs throws for `code` (same message text, code, errno, syscall). */
export function injected(code: string, op: string, target: unknown): NodeJS.ErrnoException {
  let errno = 0;
  let text = 'injected fault';
  for (const [n, [name, message]] of getSystemErrorMap()) {
    if (name === code) {
      errno = n;
      text = message;
    }
  }
  const syscall = op.replace(/Sync$/, '');
  const where = typeof target === 'string' ? ` '${target}'` : '';
  return Object.assign(new Error(`${code}: ${text}, ${syscall}${where} (injected)`), { code, errno, syscall });
}
