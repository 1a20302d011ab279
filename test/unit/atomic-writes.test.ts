/**
 * AtomicWrites (src/io/atomic.ts): several atomic replaces made durable by one flush. The order of
 * the calls is the guarantee: every temp file written, then the flush and each temp file fsync'ed
 * (without a flush, each temp file fsync'ed as it is written), then the renames in order, then the
 * folders fsync'ed, then what must follow them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { basename, join } from 'node:path';
import type { Fs } from '../../src/io/fs.js';
import { AtomicWrites, fsyncDir, fsyncFile, isAtomicTempName, writeFileAtomic } from '../../src/io/atomic.js';
import { faultyFs, type FaultRule } from '../helpers/faulty-fs.js';
import { removeDir, tempDir } from '../helpers/tree.js';

let root = '';
before(() => {
  root = tempDir('hb-atomic-');
});
after(() => removeDir(root));

/** The real fs, logging renames, fsyncs (by the path their fd was opened on) and unlinks; `fail` makes one call throw. */
function loggingFs(log: string[], fail?: (call: string, path: string) => boolean): Fs {
  const paths = new Map<number, string>();
  const name = (p: unknown) => (isAtomicTempName(basename(String(p))) ? `tmp(${basename(String(p)).split('.tmp-')[0]?.slice(1)})` : basename(String(p)));
  const check = (call: string, p: string) => {
    if (fail?.(call, p) === true) throw Object.assign(new Error(`EIO: injected, ${call} ${p}`), { code: 'EIO' });
  };
  return new Proxy(realFs as Fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'openSync')
        return (p: string, flags: string, mode?: number) => {
          const fd = realFs.openSync(p, flags, mode);
          paths.set(fd, p);
          return fd;
        };
      if (prop === 'fsyncSync')
        return (fd: number) => {
          const p = paths.get(fd) ?? '?';
          check('fsync', p);
          log.push(`fsync ${name(p)}`);
          realFs.fsyncSync(fd);
        };
      if (prop === 'renameSync')
        return (a: string, b: string) => {
          check('rename', a);
          log.push(`rename ${name(a)} -> ${name(b)}`);
          realFs.renameSync(a, b);
        };
      if (prop === 'unlinkSync')
        return (p: string) => {
          log.push(`unlink ${name(p)}`);
          realFs.unlinkSync(p);
        };
      return value;
    },
  });
}

const listing = (dir: string) => realFs.readdirSync(dir).sort();

/** Fails the `nth` close with `code` as close(2) does on Linux: the descriptor is released all the same. */
const closeFails =
  (code: string, nth = 1): FaultRule =>
  (fd, n) => {
    if (n !== nth) return false;
    realFs.closeSync(fd as number);
    return code;
  };

describe('AtomicWrites', () => {
  it('with a flush: nothing is fsynced while writing; the flush, then each temp file fsynced, before every rename, the folders after them, then afterCommit', () => {
    const dir = realFs.mkdtempSync(join(root, 'a-'));
    const sub = join(dir, 'sub');
    realFs.mkdirSync(sub);
    realFs.writeFileSync(join(dir, 'a.json'), 'old a');
    const log: string[] = [];
    const w = new AtomicWrites(loggingFs(log), () => log.push('flush'));
    w.write(join(dir, 'a.json'), 'new a');
    w.write(join(sub, 'b.json'), ['new ', Buffer.from('b')]);
    w.afterCommit(() => log.push('after'));
    assert.deepEqual(log, [], 'nothing is flushed, fsynced or renamed while writing');
    assert.equal(realFs.readFileSync(join(dir, 'a.json'), 'utf8'), 'old a', 'the old content stays until the commit');
    w.commit();
    assert.deepEqual(log, [
      'flush',
      'fsync tmp(a.json)',
      'fsync tmp(b.json)',
      'rename tmp(a.json) -> a.json',
      'rename tmp(b.json) -> b.json',
      `fsync ${basename(dir)}`,
      'fsync sub',
      'after',
    ]);
    assert.equal(realFs.readFileSync(join(dir, 'a.json'), 'utf8'), 'new a');
    assert.equal(realFs.readFileSync(join(sub, 'b.json'), 'utf8'), 'new b');
    assert.deepEqual(listing(dir), ['a.json', 'sub']);
    assert.deepEqual(listing(sub), ['b.json']);
  });

  it('without a flush each temp file is fsynced as it is written (writeFileAtomic too)', () => {
    const dir = realFs.mkdtempSync(join(root, 'b-'));
    const log: string[] = [];
    const fs = loggingFs(log);
    const w = new AtomicWrites(fs);
    w.write(join(dir, 'a.json'), 'a');
    w.write(join(dir, 'b.json'), 'b');
    w.commit();
    assert.deepEqual(log, ['fsync tmp(a.json)', 'fsync tmp(b.json)', 'rename tmp(a.json) -> a.json', 'rename tmp(b.json) -> b.json', `fsync ${basename(dir)}`]);
    log.length = 0;
    writeFileAtomic(fs, join(dir, 'c.json'), 'c');
    assert.deepEqual(log, ['fsync tmp(c.json)', 'rename tmp(c.json) -> c.json', `fsync ${basename(dir)}`]);
    assert.deepEqual(listing(dir), ['a.json', 'b.json', 'c.json']);
  });

  it('a streamed file: written piece by piece until the commit, which writes its last piece, then fsyncs it with the others (with a flush or without)', () => {
    for (const flush of [true, false]) {
      const dir = realFs.mkdtempSync(join(root, 's-'));
      realFs.writeFileSync(join(dir, 'inc.json'), 'old');
      const log: string[] = [];
      const w = new AtomicWrites(loggingFs(log), flush ? () => log.push('flush') : undefined);
      const out = w.stream(join(dir, 'inc.json'));
      // More than one chunk (1 MiB), with characters of 2 and 3 bytes across the chunk's end.
      const pieces = Array.from({ length: 30000 }, (_, i) => `line ${i} ${'é€'.repeat(i % 30)}\n`);
      for (const piece of pieces.slice(0, 20000)) out.write(piece);
      w.write(join(dir, 'm.json'), 'manifest');
      for (const piece of pieces.slice(20000)) out.write(piece);
      assert.deepEqual(log, flush ? [] : ['fsync tmp(m.json)'], 'nothing of the streamed file is fsynced while it is written');
      const tmp = listing(dir).find((n) => n.startsWith('.inc.json')) as string;
      assert.ok(isAtomicTempName(tmp));
      const before = realFs.statSync(join(dir, tmp)).size;
      assert.ok(before > 1 << 20 && before < Buffer.byteLength(pieces.join('')), 'whole chunks are written as they fill, the rest at the commit');
      w.commit();
      assert.deepEqual(log, [
        ...(flush ? ['flush', 'fsync tmp(inc.json)', 'fsync tmp(m.json)'] : ['fsync tmp(m.json)', 'fsync tmp(inc.json)']),
        'rename tmp(inc.json) -> inc.json',
        'rename tmp(m.json) -> m.json',
        `fsync ${basename(dir)}`,
      ]);
      assert.equal(realFs.readFileSync(join(dir, 'inc.json'), 'utf8'), pieces.join(''));
      assert.deepEqual(listing(dir), ['inc.json', 'm.json']);
    }
  });

  it('abort closes and removes a streamed file, its old file untouched', () => {
    const dir = realFs.mkdtempSync(join(root, 't-'));
    realFs.writeFileSync(join(dir, 'inc.json'), 'old');
    const fs = faultyFs({ closeSync: () => false });
    const w = new AtomicWrites(fs, () => {});
    w.stream(join(dir, 'inc.json')).write('new');
    w.abort();
    assert.equal(fs.calls.get('closeSync'), 1);
    assert.deepEqual(listing(dir), ['inc.json']);
    assert.equal(realFs.readFileSync(join(dir, 'inc.json'), 'utf8'), 'old');
  });

  it('a flush that fails renames nothing, runs nothing after, and abort removes every temp file', () => {
    const dir = realFs.mkdtempSync(join(root, 'c-'));
    realFs.writeFileSync(join(dir, 'a.json'), 'old a');
    const log: string[] = [];
    const w = new AtomicWrites(loggingFs(log), () => {
      throw Object.assign(new Error('EIO: could not flush'), { code: 'EIO' });
    });
    w.write(join(dir, 'a.json'), 'new a');
    w.write(join(dir, 'b.json'), 'new b');
    w.afterCommit(() => log.push('after'));
    assert.throws(() => w.commit(), /could not flush/);
    assert.equal(log.filter((l) => l.startsWith('rename') || l === 'after').length, 0);
    assert.equal(listing(dir).filter(isAtomicTempName).length, 2, 'both temp files are still there before abort');
    w.abort();
    assert.deepEqual(listing(dir), ['a.json'], 'only the old file is left');
    assert.equal(realFs.readFileSync(join(dir, 'a.json'), 'utf8'), 'old a');
  });

  it('a rename that fails leaves the files renamed before it in place, their folders fsynced, and the rest for abort', () => {
    const dir = realFs.mkdtempSync(join(root, 'd-'));
    const sub = join(dir, 'sub');
    realFs.mkdirSync(sub);
    const log: string[] = [];
    const w = new AtomicWrites(
      loggingFs(log, (call, p) => call === 'rename' && basename(p).startsWith('.b.json')),
      () => log.push('flush'),
    );
    w.write(join(dir, 'a.json'), 'new a');
    w.write(join(sub, 'b.json'), 'new b');
    w.afterCommit(() => log.push('after'));
    assert.throws(() => w.commit(), /injected/);
    assert.deepEqual(log, ['flush', 'fsync tmp(a.json)', 'fsync tmp(b.json)', 'rename tmp(a.json) -> a.json', `fsync ${basename(dir)}`], 'only the folder of the rename made is fsynced');
    w.abort();
    assert.deepEqual(listing(dir), ['a.json', 'sub']);
    assert.deepEqual(listing(sub), []);
    assert.equal(realFs.readFileSync(join(dir, 'a.json'), 'utf8'), 'new a');
  });

  it('a failed rename is the error reported, even when the fsync of an earlier rename\'s folder fails too', () => {
    const dir = realFs.mkdtempSync(join(root, 'h-'));
    const fs = faultyFs({
      renameSync: (_p, n) => n === 2 && 'EXDEV',
      // Once a rename was made: the folder's fsync fails, not the temp files'.
      fsyncSync: () => fs.calls.has('renameSync') && 'EIO',
    });
    const w = new AtomicWrites(fs, () => {});
    w.write(join(dir, 'a.json'), 'new a');
    w.write(join(dir, 'b.json'), 'new b');
    assert.throws(() => w.commit(), (err: NodeJS.ErrnoException) => err.code === 'EXDEV');
    assert.equal(fs.calls.get('fsyncSync'), 3, 'two temp files, then the folder of the first rename');
    w.abort();
    assert.deepEqual(listing(dir), ['a.json']);
  });

  it('a close of the temp file that fails: its error surfaces (not a second close\'s EBADF), and no temp file is left', () => {
    const dir = realFs.mkdtempSync(join(root, 'e-'));
    realFs.writeFileSync(join(dir, 'a.json'), 'old a');
    const fs = faultyFs({ closeSync: closeFails('EIO') });
    assert.throws(() => writeFileAtomic(fs, join(dir, 'a.json'), 'new a'), (err: NodeJS.ErrnoException) => err.code === 'EIO' && /injected/.test(err.message));
    assert.deepEqual(listing(dir), ['a.json'], 'the temp file is removed');
    assert.equal(realFs.readFileSync(join(dir, 'a.json'), 'utf8'), 'old a');
  });

  it('fsyncDir: a failed fsync of the folder is the error reported, even when its close fails too', () => {
    const dir = realFs.mkdtempSync(join(root, 'f-'));
    const fs = faultyFs({ fsyncSync: () => 'EIO', closeSync: closeFails('EINTR') });
    assert.throws(() => fsyncDir(fs, dir), (err: NodeJS.ErrnoException) => err.code === 'EIO');
    assert.equal(fs.calls.get('closeSync'), 1, 'the folder is closed once');
  });

  it('fsyncFile: a copy its mode makes read-only is opened for writing once made writable, fsynced with its mode given back', () => {
    const file = join(realFs.mkdtempSync(join(root, 'ro-')), 'copy.txt');
    realFs.writeFileSync(file, 'a version');
    realFs.chmodSync(file, 0o444);
    const log: string[] = [];
    // As without root: a read-only file cannot be opened for writing (root could; the first open is refused here).
    let refused = false;
    const fs = new Proxy(realFs as Fs, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'openSync')
          return (p: string, flags: string) => {
            if (flags === 'r+' && (realFs.statSync(p).mode & 0o200) === 0) {
              refused = true;
              throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
            }
            log.push(`open ${flags}`);
            return realFs.openSync(p, flags);
          };
        if (prop === 'chmodSync')
          return (p: string, mode: number) => {
            log.push(`chmod ${mode.toString(8)}`);
            realFs.chmodSync(p, mode);
          };
        if (prop === 'fsyncSync')
          return (fd: number) => {
            log.push(`fsync, mode ${(realFs.statSync(file).mode & 0o777).toString(8)}`);
            realFs.fsyncSync(fd);
          };
        return value;
      },
    });
    fsyncFile(fs, file);
    assert.ok(refused, 'the first open for writing was refused');
    assert.deepEqual(log, ['chmod 644', 'open r+', 'chmod 444', 'fsync, mode 444']);
    assert.equal(realFs.statSync(file).mode & 0o777, 0o444);
  });

  it('fsyncFile: a failed fsync is thrown (the drive failed); a filesystem that cannot fsync at all is let be', () => {
    const file = join(realFs.mkdtempSync(join(root, 'fail-')), 'copy.txt');
    realFs.writeFileSync(file, 'a version');
    assert.throws(() => fsyncFile(faultyFs({ fsyncSync: () => 'EIO' }), file), (err: NodeJS.ErrnoException) => err.code === 'EIO');
    fsyncFile(faultyFs({ fsyncSync: () => 'EINVAL' }), file);
  });

  it('with a flush: a temp file whose fsync fails after the flush (a writeback error syncfs did not report) replaces nothing', () => {
    const dir = realFs.mkdtempSync(join(root, 'g-'));
    realFs.writeFileSync(join(dir, 'a.json'), 'old a');
    realFs.writeFileSync(join(dir, 'b.json'), 'old b');
    // Linux lists a process's open descriptors; elsewhere the count is not checked.
    const openFds = () => (realFs.existsSync('/proc/self/fd') ? realFs.readdirSync('/proc/self/fd').length : 0);
    const fdsBefore = openFds();
    let flushed = false;
    // The first fsync is the first temp file's: writing fsyncs nothing when there is a flush.
    const fs = faultyFs({ fsyncSync: (_fd, n) => n === 1 && flushed && 'EIO', renameSync: () => false });
    const w = new AtomicWrites(fs, () => {
      flushed = true;
    });
    w.write(join(dir, 'a.json'), 'new a');
    w.write(join(dir, 'b.json'), 'new b');
    assert.throws(() => w.commit(), (err: NodeJS.ErrnoException) => err.code === 'EIO');
    assert.ok(flushed);
    assert.equal(fs.calls.get('renameSync') ?? 0, 0, 'nothing is renamed');
    assert.equal(realFs.readFileSync(join(dir, 'a.json'), 'utf8'), 'old a');
    assert.equal(realFs.readFileSync(join(dir, 'b.json'), 'utf8'), 'old b');
    w.abort();
    assert.deepEqual(listing(dir), ['a.json', 'b.json'], 'abort removes both temp files');
    assert.equal(openFds(), fdsBefore, 'and closes the one still open');
  });
});
