import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { realFs, type Fs } from '../../src/io/fs.js';
import { fstatFor, lstatFor, statSource, type StatView } from '../../src/io/stat.js';
import { makeTree, removeDir, tempDir } from '../helpers/tree.js';

// The scan's lstat and the copy's fstat (src/io/stat.ts) read Node's binding where it proves itself,
// else fs.lstatSync / fs.fstatSync: either way, what they answer and throw must be what those answer
// and throw.

let root = '';
before(() => {
  root = tempDir('hb-lstat-');
  makeTree(root, { 'f.txt': 'text', 'empty': '', 'dir/inner': 'x', 'link': { symlink: 'f.txt' }, 'dangling': { symlink: 'nowhere' } });
  // Nanoseconds, a time before 1970 (negative seconds), the epoch itself, and a size past 4 GiB.
  const touched = spawnSync('touch', ['-d', '@1700000000.123456789', join(root, 'f.txt')]);
  assert.equal(touched.status, 0, `touch: ${touched.stderr}`);
  const before1970 = spawnSync('touch', ['-d', '@-86400.25', join(root, 'empty')]);
  assert.equal(before1970.status, 0, `touch: ${before1970.stderr}`);
  nodeFs.writeFileSync(join(root, 'epoch'), '');
  nodeFs.utimesSync(join(root, 'epoch'), 0, 0);
  nodeFs.writeFileSync(join(root, 'sparse'), '');
  nodeFs.truncateSync(join(root, 'sparse'), 5 * 2 ** 30 + 7);
  const mk = spawnSync('mkfifo', [join(root, 'pipe')]);
  assert.equal(mk.status, 0, `mkfifo: ${mk.stderr}`);
});
after(() => removeDir(root));

const FIELDS = ['mode', 'size', 'mtimeNs', 'uid', 'gid', 'dev', 'ino', 'birthtimeNs'] as const;
/** Every field of a view, read at once (a view lasts until this thread's next stat call). */
const fieldsOf = (v: StatView | undefined) => (v === undefined ? undefined : Object.fromEntries(FIELDS.map((f) => [f, v[f]])));
/** The same fields, from fs.lstatSync. */
function expected(path: string | number) {
  const st = typeof path === 'number' ? nodeFs.fstatSync(path, { bigint: true }) : nodeFs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined) return undefined;
  return {
    mode: Number(st.mode),
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    uid: Number(st.uid),
    gid: Number(st.gid),
    dev: st.dev,
    ino: st.ino,
    birthtimeNs: st.birthtimeNs,
  };
}
/** `fn` given a descriptor of `name` under root, open to read (without blocking: a FIFO too), closed after. */
function withFd<T>(name: string, fn: (fd: number) => T): T {
  const fd = nodeFs.openSync(join(root, name), nodeFs.constants.O_RDONLY | nodeFs.constants.O_NONBLOCK);
  try {
    return fn(fd);
  } finally {
    nodeFs.closeSync(fd);
  }
}
/** What a call throws, by code ('none' when it returns). */
function thrown(call: () => unknown): string {
  try {
    call();
    return 'none';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

describe('lstatFor and fstatFor', () => {
  const names = ['f.txt', 'empty', 'epoch', 'sparse', 'dir', 'dir/inner', 'link', 'dangling', 'pipe', ''];

  it('answers what fs.lstatSync answers, field for field, for every kind of entry', () => {
    const lstat = lstatFor(realFs, root);
    for (const name of names) {
      const p = join(root, name);
      assert.deepEqual(fieldsOf(lstat(p)), expected(p), name);
    }
    // The cases this test means to cover are there: nanoseconds, before 1970, past 4 GiB.
    assert.equal(expected(join(root, 'f.txt'))?.mtimeNs, '1700000000123456789');
    assert.equal(expected(join(root, 'empty'))?.mtimeNs, '-86400250000000', 'a time before 1970: -86,401 s and 750,000,000 ns');
    assert.equal(expected(join(root, 'sparse'))?.size, 5 * 2 ** 30 + 7);
  });

  it('reads the binding on Node 20, where it was measured', (t) => {
    if (!process.version.startsWith('v20.')) {
      t.skip(`Node ${process.version}: the binding is used only where it agrees with fs, which the other tests check`);
      return;
    }
    lstatFor(realFs, root);
    assert.equal(statSource().lstat, 'binding');
    withFd('f.txt', (fd) => fstatFor(realFs)(fd));
    assert.equal(statSource().fstat, 'binding');
  });

  it('finds nothing where fs finds nothing, and throws what fs throws', () => {
    const lstat = lstatFor(realFs, root);
    const cases = [
      join(root, 'missing'), // ENOENT
      join(root, 'f.txt', 'below-a-file'), // ENOTDIR: thrown, by both
      join(root, 'x'.repeat(300)), // ENAMETOOLONG
      join(root, 'dangling', 'below'), // ENOENT through a symlink
    ];
    for (const p of cases) {
      assert.equal(thrown(() => lstat(p)), thrown(() => nodeFs.lstatSync(p, { bigint: true, throwIfNoEntry: false })), p);
      if (thrown(() => lstat(p)) === 'none') assert.equal(lstat(p), undefined, p);
    }
    assert.equal(thrown(() => lstat(join(root, 'x'.repeat(300)))), 'ENAMETOOLONG', 'one case the public API throws for');
    // The binding would read this path up to its NUL byte, and answer for f.txt.
    assert.equal(thrown(() => lstat(join(root, 'f.txt\0junk'))), 'ERR_INVALID_ARG_VALUE');
    // After each failure it goes on answering.
    assert.deepEqual(fieldsOf(lstat(join(root, 'f.txt'))), expected(join(root, 'f.txt')));
  });

  it('asks an injected fs (the seam the fault tests use), for lstat and fstat alike', () => {
    const calls = { lstat: 0, fstat: 0 };
    const counting: Fs = {
      ...realFs,
      lstatSync: ((...args: Parameters<Fs['lstatSync']>) => {
        calls.lstat++;
        return realFs.lstatSync(...args);
      }) as Fs['lstatSync'],
      fstatSync: ((...args: Parameters<Fs['fstatSync']>) => {
        calls.fstat++;
        return realFs.fstatSync(...args);
      }) as Fs['fstatSync'],
    };
    const lstat = lstatFor(counting, root);
    assert.deepEqual(fieldsOf(lstat(join(root, 'f.txt'))), expected(join(root, 'f.txt')));
    assert.equal(lstat(join(root, 'missing')), undefined);
    withFd('f.txt', (fd) => assert.deepEqual(fieldsOf(fstatFor(counting)(fd)), expected(fd)));
    assert.deepEqual(calls, { lstat: 2, fstat: 1 });
  });

  it('fstat: answers what fs.fstatSync answers, for files and folders, and throws what it throws', () => {
    const fstat = fstatFor(realFs);
    for (const name of ['f.txt', 'empty', 'sparse', 'dir', 'pipe', '']) withFd(name, (fd) => assert.deepEqual(fieldsOf(fstat(fd)), expected(fd), name));
    const closed = withFd('f.txt', (fd) => fd);
    assert.equal(thrown(() => fstat(closed)), thrown(() => nodeFs.fstatSync(closed, { bigint: true })));
    assert.equal(thrown(() => fstat(closed)), 'EBADF');
    withFd('f.txt', (fd) => assert.deepEqual(fieldsOf(fstat(fd)), expected(fd), 'after a failure it goes on answering'));
  });

  const statJs = new URL('../../src/io/stat.js', import.meta.url).pathname;
  const fsJs = new URL('../../src/io/fs.js', import.meta.url).pathname;
  /**
   * A child process that walks `root`'s entries with lstatFor under the given Node options, after
   * `prelude` ran; it tells which calls were used, and whether process.noDeprecation's descriptor
   * is what it was.
   */
  function child(nodeOptions: string[], prelude = '') {
    const script = `
      ${prelude}
      const flag = () => JSON.stringify(Object.getOwnPropertyDescriptor(process, 'noDeprecation'));
      const flagWas = flag();
      const { fstatFor, lstatFor, statSource } = await import(${JSON.stringify(statJs)});
      const nodeFs = await import('node:fs');
      const { realFs } = await import(${JSON.stringify(fsJs)});
      const lstat = lstatFor(realFs, ${JSON.stringify(root)});
      const sizes = ${JSON.stringify(names)}.map((n) => lstat(${JSON.stringify(root)} + '/' + n)?.size);
      const fd = nodeFs.openSync(${JSON.stringify(join(root, 'sparse'))}, 'r');
      const fsize = fstatFor(realFs)(fd).size;
      console.log(JSON.stringify({ source: statSource(), sizes, fsize, flagKept: flag() === flagWas }));`;
    const r = spawnSync(process.execPath, [...nodeOptions, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    return { ...(JSON.parse(r.stdout) as { source: { lstat: string; fstat: string }; sizes: number[]; fsize: number; flagKept: boolean }), stderr: r.stderr };
  }
  const sizes = () => names.map((n) => expected(join(root, n))?.size);

  it('prints no warning, even where every deprecation is shown or thrown', () => {
    const got = child(['--pending-deprecation', '--throw-deprecation']);
    assert.equal(got.stderr, '');
    assert.equal(got.flagKept, true, 'process.noDeprecation is as it was');
    assert.deepEqual(got.sizes, sizes());
    assert.equal(got.fsize, 5 * 2 ** 30 + 7);
    if (process.version.startsWith('v20.')) assert.deepEqual(got.source, { lstat: 'binding', fstat: 'binding' }, 'the binding was asked for, and warned of, yet nothing was printed');
  });

  it('works under --no-deprecation, whose flag is read-only (assigning it would throw)', () => {
    const got = child(['--no-deprecation']);
    assert.equal(got.flagKept, true, 'process.noDeprecation is as it was');
    assert.deepEqual(got.sizes, sizes());
    assert.equal(got.fsize, 5 * 2 ** 30 + 7);
    if (process.version.startsWith('v20.')) assert.deepEqual(got.source, { lstat: 'binding', fstat: 'binding' });
  });

  // A Node whose binding answers in another way: each case must leave both calls to fs, answering
  // what fs answers. The real binding is wrapped where it is needed.
  const otherBindings: Record<string, string> = {
    'a float array': `() => new Float64Array(18)`,
    'a short array': `() => new BigInt64Array(10)`,
    'a call that throws': `() => { throw new TypeError('not this way'); }`,
    'a size off by one': `(...args) => { const a = real[name](...args); a[8] += 1n; return a; }`,
    'an owner off by one': `(...args) => { const a = real[name](...args); a[3] += 1n; return a; }`,
  };
  for (const [what, call] of Object.entries(otherBindings)) {
    it(`keeps to fs where the binding answers with ${what}`, () => {
      const prelude = `
        const real = process.binding('fs');
        const make = (name) => ${call};
        process.binding = () => ({ lstat: make('lstat'), fstat: make('fstat') });`;
      const got = child(['--no-deprecation'], prelude);
      assert.deepEqual(got.source, { lstat: 'fs', fstat: 'fs' });
      assert.deepEqual(got.sizes, sizes());
      assert.equal(got.fsize, 5 * 2 ** 30 + 7);
    });
  }

  it('takes the binding when only its first answer differed (the file changed between the calls compared)', (t) => {
    if (!process.version.startsWith('v20.')) {
      t.skip(`Node ${process.version}: the binding is checked here on Node 20, the machines' Node`);
      return;
    }
    const prelude = `
      const real = process.binding('fs');
      const make = (name) => {
        let first = true;
        return (...args) => { const a = real[name](...args); if (first) a[8] += 1n; first = false; return a; };
      };
      process.binding = () => ({ lstat: make('lstat'), fstat: make('fstat') });`;
    const got = child(['--no-deprecation'], prelude);
    assert.deepEqual(got.source, { lstat: 'binding', fstat: 'binding' }, 'asked again, it agreed');
    assert.deepEqual(got.sizes, sizes());
    assert.equal(got.fsize, 5 * 2 ** 30 + 7);
  });

  it('does not ask the binding on a Node major it was not tried on', () => {
    const prelude = `
      Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '26.0.0' } });
      // Caught where it is asked for, so the exit status tells.
      process.binding = () => { process.exitCode = 3; throw new Error('the binding was asked for'); };`;
    const got = child([], prelude);
    assert.deepEqual(got.source, { lstat: 'fs', fstat: 'fs' });
    assert.equal(got.stderr, '');
    assert.deepEqual(got.sizes, sizes());
    assert.equal(got.flagKept, true);
  });

  it("keeps to fs.lstatSync under Node's permission model", (t) => {
    if (!process.version.startsWith('v20.')) {
      t.skip(`Node ${process.version}: the permission model's flag is Node 20's`);
      return;
    }
    const got = child(['--experimental-permission', '--allow-fs-read=*']);
    assert.deepEqual(got.source, { lstat: 'fs', fstat: 'fs' });
    assert.deepEqual(got.sizes, sizes());
    assert.equal(got.fsize, 5 * 2 ** 30 + 7);
  });
});
