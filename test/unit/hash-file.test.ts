import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import type { Fs } from '../../src/io/fs.js';
import { hashFile, newCopyBuffer } from '../../src/io/copy.js';
import { removeDir, tempDir } from '../helpers/tree.js';

// hashFile reads a file to its end, or, given the size it should have, to the first read that comes
// back short once that much was read (src/io/copy.ts): the same sha256 either way, one read fewer.

let root = '';
const CHUNK = newCopyBuffer().length;
const SIZES = [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5];

before(() => {
  root = tempDir('hb-hash-file-');
  for (const size of SIZES) {
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 31 + size) & 0xff;
    realFs.writeFileSync(join(root, `f${size}`), bytes);
  }
});
after(() => removeDir(root));

const sha = (file: string) => createHash('sha256').update(realFs.readFileSync(file)).digest('hex');

/** The real fs, counting reads; each read gives at most `most` bytes (a reader that returns short reads, as FUSE with direct I/O may). */
function countingFs(most = Infinity): Fs & { reads: number } {
  const counter = { reads: 0 };
  const read = (fd: number, buf: Buffer, off: number, len: number, pos: number | null, cb: (err: NodeJS.ErrnoException | null, n: number) => void) => {
    counter.reads++;
    realFs.read(fd, buf, off, Math.min(len, most), pos, cb);
  };
  return new Proxy(realFs as Fs & { reads: number }, {
    get: (target, prop, receiver) => (prop === 'read' ? read : prop === 'reads' ? counter.reads : Reflect.get(target, prop, receiver)),
  });
}

describe('hashFile', () => {
  it('gives the sha256 of the content, with and without the size it expects', async () => {
    for (const size of SIZES) {
      const file = join(root, `f${size}`);
      assert.equal(await hashFile(realFs, file), sha(file), `${size} bytes`);
      assert.equal(await hashFile(realFs, file, newCopyBuffer(), size), sha(file), `${size} bytes, expected`);
    }
  });

  it('given the size, does not read again to see the end of a file that came back short', async () => {
    for (const size of SIZES) {
      const file = join(root, `f${size}`);
      const plain = countingFs();
      await hashFile(plain, file);
      const sized = countingFs();
      await hashFile(sized, file, newCopyBuffer(), size);
      const full = Math.floor(size / CHUNK);
      // Without the size: every full read, the short one, and one that finds the end.
      assert.equal(plain.reads, full + (size % CHUNK === 0 ? 1 : 2), `${size} bytes, without the size`);
      // With it: the read that finds the end is left out whenever the last one came back short.
      assert.equal(sized.reads, full + 1, `${size} bytes, with the size`);
    }
  });

  it('reads on past short reads before the expected size, and to the end of a file longer than expected', async () => {
    for (const size of SIZES) {
      const file = join(root, `f${size}`);
      const dribble = countingFs(4096);
      assert.equal(await hashFile(dribble, file, newCopyBuffer(), size), sha(file), `${size} bytes, 4 KiB at a time`);
      assert.equal(dribble.reads, Math.max(1, Math.ceil(size / 4096)), `${size} bytes, 4 KiB at a time: each read, none after the end`);
      assert.equal(await hashFile(realFs, file, newCopyBuffer(), Math.floor(size / 2)), sha(file), `${size} bytes, half expected`);
      // Grown since its size was taken, read back short: its first part alone could match the old version.
      assert.equal(await hashFile(countingFs(4096), file, newCopyBuffer(), Math.floor(size / 2)), sha(file), `${size} bytes, half expected, 4 KiB at a time`);
    }
  });

  it('opens a FIFO that took the place of a file without waiting for a writer (hashFile and copyAndHash)', () => {
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // In a child process: an open that waits stops its whole thread, this test's timers with it.
    const copyJs = new URL('../../src/io/copy.js', import.meta.url).pathname;
    const script = `
      import * as fs from 'node:fs';
      const { hashFile, copyAndHash, newCopyBuffer } = await import(${JSON.stringify(copyJs)});
      const hash = await hashFile(fs, ${JSON.stringify(fifo)}, newCopyBuffer(), 10);
      let copy;
      try {
        await copyAndHash(fs, ${JSON.stringify(fifo)}, ${JSON.stringify(join(root, 'fifo-copy'))}, { size: 10, mtime_ns: '0', mode: 0o644, uid: 0, gid: 0 }, { fsyncData: false, buffer: newCopyBuffer() });
        copy = 'copied';
      } catch (err) {
        copy = err.constructor.name + ': ' + err.message;
      }
      console.log(JSON.stringify({ hash, copy }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, null, `ended on its own (${r.stderr})`);
    const got = JSON.parse(r.stdout) as { hash: string; copy: string };
    assert.equal(got.hash, createHash('sha256').digest('hex'), 'nothing to read: the hash of no bytes, which differs from a version of 10');
    assert.match(got.copy, /^SourceChangedError: .*is no longer a regular file/);
  });

  it('never reads through a symlink, nor on past the expected size of what is not a regular file (/dev/zero would never end)', () => {
    const link = join(root, 'zero-link');
    realFs.symlinkSync('/dev/zero', link);
    // In a child process, which must end on its own: a read that never ends would hold this one.
    const copyJs = new URL('../../src/io/copy.js', import.meta.url).pathname;
    const script = `
      import * as fs from 'node:fs';
      const { hashFile, newCopyBuffer } = await import(${JSON.stringify(copyJs)});
      const outcome = (p) => hashFile(fs, p, newCopyBuffer(), 10).then((h) => 'hashed ' + h, (err) => err.constructor.name + ' ' + (err.code ?? '') + ' ' + err.message);
      console.log(JSON.stringify({ link: await outcome(${JSON.stringify(link)}), device: await outcome('/dev/zero') }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.signal, null, `ended on its own (${r.stderr})`);
    const got = JSON.parse(r.stdout) as { link: string; device: string };
    assert.match(got.link, /^SourceChangedError ECHANGED .*is no longer a regular file/, 'a symlink is not followed');
    assert.match(got.device, /^SourceChangedError ECHANGED .*is no longer a regular file/, 'a device is given up once past the expected size');
  });
});
