import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { realFs } from '../../src/io/fs.js';
import { runTool } from '../../src/cli/tool.js';
import { profileFor, removeDir, tempDir } from '../helpers/tree.js';

async function verify(dist: string, data: boolean, fsUsed: typeof realFs = realFs) {
  let stdout = '';
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        add(chunk.toString());
        cb();
      },
    });
  const code = await runTool([dist, 'verify', '--json', ...(data ? ['--data'] : [])], {
    stdout: sink((s) => (stdout += s)),
    stderr: sink(() => {}),
    stdin: Readable.from([]),
    cwd: process.cwd(),
    programDir: '/nonexistent',
    fs: fsUsed,
  });
  const doc = JSON.parse(stdout) as { ok: boolean; findings: { where: string; path: string | null; problem: string }[]; checked: { hashed_files: number } };
  return { code, doc, findings: doc.findings.map((f) => `${f.where}:${f.path ?? ''}:${f.problem}`) };
}

let root = '';
let dist = '';
let src = '';
const ids: string[] = [];
const OLD = Date.UTC(2025, 0, 1) / 1000;

beforeEach(async () => {
  root = tempDir('hb-verify-');
  src = join(root, 'src');
  dist = join(root, 'dist');
  ids.length = 0;
  fs.mkdirSync(join(src, 'P'), { recursive: true });
  const write = (rel: string, s: string, t = OLD) => {
    fs.writeFileSync(join(src, rel), s);
    fs.utimesSync(join(src, rel), t, t);
  };
  write('P/a.txt', 'version one');
  write('P/b.txt', 'bbbb');
  const p = profileFor(src, dist);
  ids.push((await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1, 1)) })).id as string);
  write('P/a.txt', 'version two', OLD + 100);
  fs.rmSync(join(src, 'P/b.txt'));
  ids.push((await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1, 2)) })).id as string);
});
afterEach(() => removeDir(root));

const inc = (i: number, ...rest: string[]) => join(dist, 'increments', ids[i] as string, ...rest);

/** Rewrites a file in place (same inode), keeping its mtime unless told otherwise. */
function editInPlace(p: string, content: string, keepMtime = true): void {
  const st = fs.statSync(p);
  fs.writeFileSync(p, content);
  if (keepMtime) fs.utimesSync(p, st.atime, st.mtime);
}

describe('verify', () => {
  it('finds nothing wrong with a sound backup, with and without --data', async () => {
    const plain = await verify(dist, false);
    assert.deepEqual([plain.code, plain.findings], [0, []]);
    const data = await verify(dist, true);
    assert.deepEqual([data.code, data.findings], [0, []]);
    assert.equal(data.doc.checked.hashed_files, 3, 'each inode is read once (mirror and files/ share one)');
  });

  it('detects a corrupted byte only with --data', async () => {
    const p = inc(0, 'files', 'P/a.txt');
    editInPlace(p, 'version ONE');
    assert.equal((await verify(dist, false)).code, 0);
    const r = await verify(dist, true);
    assert.equal(r.code, 1);
    assert.deepEqual(r.findings, [`${ids[0]}:files/P/a.txt:content does not match its recorded sha256 (damaged)`]);
  });

  it('detects a truncated file without --data', async () => {
    fs.truncateSync(join(dist, 'mirror', 'P/a.txt'), 3);
    const r = await verify(dist, false);
    assert.equal(r.code, 1);
    assert.ok(r.findings.includes('mirror:P/a.txt:has 3 bytes, the record says 11'), r.findings.join('\n'));
    assert.ok(r.findings.includes(`${ids[1]}:files/P/a.txt:has 3 bytes, the record says 11`), 'the increment shares the inode');
  });

  it('detects a deleted stored file', async () => {
    fs.rmSync(inc(1, 'deleted', 'P/b.txt'));
    const r = await verify(dist, false);
    assert.deepEqual([r.code, r.findings], [1, [`${ids[1]}:deleted/P/b.txt:missing`]]);
  });

  it('detects a mirror file edited in place: by its mtime, or with --data by its content', async () => {
    const p = join(dist, 'mirror', 'P/a.txt');
    editInPlace(p, 'version 2!!');
    assert.equal((await verify(dist, false)).code, 0, 'same size and mtime: only the content tells');
    const data = await verify(dist, true);
    assert.deepEqual(data.findings.sort(), [`${ids[1]}:files/P/a.txt:content does not match its recorded sha256 (damaged)`, 'mirror:P/a.txt:content does not match its recorded sha256 (damaged)']);
    editInPlace(p, 'version 2!!', false);
    const plain = await verify(dist, false);
    assert.equal(plain.code, 1);
    assert.match(plain.findings.join('\n'), /mirror:P\/a\.txt:mtime .* differs from the recorded/);
  });

  it('detects stray temporary files and entries the manifest does not list', async () => {
    fs.writeFileSync(join(dist, 'mirror', 'P', 'hb-1a2b-000000000000'), '');
    fs.writeFileSync(join(dist, 'mirror', 'extra.txt'), '');
    fs.writeFileSync(inc(0, '.increment.json.tmp-1a-0123456789ab'), '');
    fs.writeFileSync(inc(0, 'files', 'P', 'unlisted.txt'), '');
    const r = await verify(dist, false);
    assert.equal(r.code, 1);
    assert.deepEqual(r.findings.sort(), [
      `${ids[0]}:.increment.json.tmp-1a-0123456789ab:stray temporary file`,
      `${ids[0]}:files/P/unlisted.txt:stored file not listed in increment.json`,
      'mirror:P/hb-1a2b-000000000000:stray temporary file',
      'mirror:extra.txt:entry not in the manifest',
    ]);
  });

  it('finds the same where a folder cannot be listed with its types (as Node fails on a file system that lists none, when one entry vanishes)', async () => {
    fs.writeFileSync(join(dist, 'mirror', 'P', 'hb-1a2b-000000000000'), '');
    fs.writeFileSync(join(dist, 'mirror', 'extra.txt'), '');
    fs.writeFileSync(inc(0, 'files', 'P', 'unlisted.txt'), '');
    const typed = (args: unknown[]) => typeof args[1] === 'object' && args[1] !== null && (args[1] as { withFileTypes?: boolean }).withFileTypes === true;
    let refused = 0;
    const untyped = new Proxy(realFs, {
      get(target, key, receiver) {
        if (key !== 'readdirSync') return Reflect.get(target, key, receiver) as unknown;
        return (...args: unknown[]) => {
          if (typed(args)) {
            refused++;
            throw Object.assign(new Error(`ENOENT: no such file or directory, lstat '${String(args[0])}/gone'`), { code: 'ENOENT' });
          }
          return (target.readdirSync as (...a: unknown[]) => unknown)(...args);
        };
      },
    });
    const r = await verify(dist, false, untyped);
    assert.ok(refused > 0, 'the listing with types was asked for, and failed');
    assert.deepEqual(r.findings.sort(), [
      `${ids[0]}:files/P/unlisted.txt:stored file not listed in increment.json`,
      'mirror:P/hb-1a2b-000000000000:stray temporary file',
      'mirror:extra.txt:entry not in the manifest',
    ]);
  });

  it('detects a missing mirror entry and a type mismatch', async () => {
    fs.rmSync(join(dist, 'mirror', 'P/a.txt'));
    fs.mkdirSync(join(dist, 'mirror', 'P/a.txt'));
    const r = await verify(dist, false);
    assert.deepEqual(r.findings, ['mirror:P/a.txt:is a dir, the record says file']);
  });
});
