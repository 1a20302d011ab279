/**
 * The end of a run (src/apply/run.ts, io/atomic.ts AtomicWrites; docs/reliability.md, "fsync
 * policy"): the final increment.json and the manifest's delta are written to temp files, then one
 * `sync -f` of the destination makes them durable with every version the run placed, each temp file
 * is fsynced (syncfs(2) reports no writeback error before Linux 5.8), and only then are they renamed
 * into place. Where `sync -f` fails (no syncfs), each temp file is fsynced as it is written.
 *
 * A `sync` first on PATH logs each call into the same log as this test's fs, then runs the real one,
 * so the log is the run's order of flushes, fsyncs and renames.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as realFs from 'node:fs';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Fs } from '../../src/io/fs.js';
import { runBackup } from '../../src/apply/run.js';
import type { Reporter } from '../../src/apply/reporter.js';
import { isAtomicTempName } from '../../src/io/atomic.js';
import { makeTree, profileFor, removeDir, tempDir } from '../helpers/tree.js';

const realSync = spawnSync('sh', ['-c', 'command -v sync'], { encoding: 'utf8' }).stdout.trim();
const syncfsWorks = process.platform === 'linux' && realSync !== '' && spawnSync(realSync, ['-f', '/']).status === 0;

let root = '';
let log = '';
let pathBefore: string | undefined;
before(() => {
  root = tempDir('hb-finalflush-');
  log = join(root, 'log');
  pathBefore = process.env.PATH;
});
after(() => {
  process.env.PATH = pathBefore;
  removeDir(root);
});

/** A `sync` that logs, and fails (`fails`) or runs the real one. */
function useSync(fails: boolean): void {
  const bin = realFs.mkdtempSync(join(root, 'bin-'));
  const body = fails ? 'exit 1' : `exec ${realSync} "$@"`;
  realFs.writeFileSync(join(bin, 'sync'), `#!/bin/sh\necho "sync $*" >> '${log}'\n${body}\n`, { mode: 0o755 });
  process.env.PATH = `${bin}:${pathBefore ?? ''}`;
}

/** The real fs, logging renames and fsyncs (by the path their fd was opened on) into the log. */
function loggingFs(): Fs {
  const paths = new Map<number, string>();
  const note = (line: string) => realFs.appendFileSync(log, `${line}\n`);
  return new Proxy(realFs as Fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'openSync')
        return (p: string, flags?: string | number, mode?: number) => {
          const fd = realFs.openSync(p, flags ?? 'r', mode);
          paths.set(fd, String(p));
          return fd;
        };
      if (prop === 'fsyncSync')
        return (fd: number) => {
          note(`fsync ${paths.get(fd) ?? '?'}`);
          realFs.fsyncSync(fd);
        };
      if (prop === 'renameSync')
        return (a: string, b: string) => {
          note(`rename ${a} ${b}`);
          realFs.renameSync(a, b);
        };
      return value;
    },
  });
}

const reporter: Reporter = { notice: () => {}, progress: () => {}, action: () => {} };

/** A first run, then a change; the log of the second run's calls. */
async function secondRunLog(name: string): Promise<string[]> {
  const src = join(root, `${name}-src`);
  const dist = join(root, `${name}-dist`);
  // Enough files that a change of two is written as a delta (at most an eighth of the state).
  makeTree(src, { 'a.txt': 'a', 'd/b.txt': 'b', 'd/c.txt': 'c', ...Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`e/f${i}.txt`, `${i}`])) });
  const fs = loggingFs();
  const opts = { fs, dryRun: false, force: false, checksum: false, reporter };
  await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-01T00:00:00Z') });
  realFs.writeFileSync(join(src, 'd/b.txt'), 'b, changed');
  realFs.rmSync(join(src, 'd/c.txt'));
  realFs.writeFileSync(log, '');
  const o = await runBackup(profileFor(src, dist), { ...opts, now: () => new Date('2026-01-02T00:00:00Z') });
  assert.equal(o.status, 'done');
  assert.deepEqual([o.summary.changed, o.summary.deleted], [1, 1]);
  return realFs.readFileSync(log, 'utf8').trim().split('\n');
}

/** Index of the last line matching `re` (-1 when none). */
const lastIndex = (lines: string[], re: RegExp) => lines.reduce((k, l, i) => (re.test(l) ? i : k), -1);

/** The temp file of the last rename onto `target` (the run's final write of it), and that rename's index. */
function finalWrite(lines: string[], target: string): { tmp: string; at: number } {
  const at = lastIndex(lines, new RegExp(`^rename \\S+ \\S+/${target.replace(/[.]/g, '\\.')}$`));
  assert.ok(at >= 0, `${target} is renamed into place`);
  const tmp = (lines[at] as string).split(' ')[1] as string;
  assert.ok(isAtomicTempName(basename(tmp)), `${tmp} is an atomic write's temp file`);
  return { tmp, at };
}

describe('the end of a run', () => {
  it('one sync -f covers the placed versions, increment.json and the manifest delta, then each temp file is fsynced, before they are renamed into place', { skip: !syncfsWorks && 'needs Linux with a working `sync -f` (syncfs)' }, async () => {
    useSync(false);
    const lines = await secondRunLog('syncfs');
    const inc = finalWrite(lines, 'increment.json');
    const delta = finalWrite(lines, 'manifest.delta.jsonl');
    const placed = lastIndex(lines, /^rename .*\/tmp\/\S+ .*\/mirror\/d\/b\.txt$/);
    assert.ok(placed >= 0, 'the changed file is renamed into the mirror');
    // The last flush comes after the changed version was placed and before either file is in place.
    const flush = lastIndex(lines.slice(0, Math.min(inc.at, delta.at)), /^sync -f /);
    assert.ok(flush > placed, `a sync -f between placing (line ${placed}) and the renames (${inc.at}, ${delta.at}):\n${lines.join('\n')}`);
    assert.ok(inc.at < delta.at, 'increment.json goes into place before the manifest');
    // Each temp file is fsynced once, after the flush (which wrote its data) and before the renames.
    for (const { tmp } of [inc, delta]) {
      const fsynced = lines.indexOf(`fsync ${tmp}`);
      assert.ok(fsynced > flush && fsynced < Math.min(inc.at, delta.at), `${tmp} is fsynced between the flush and the renames:\n${lines.join('\n')}`);
      assert.equal(lines.lastIndexOf(`fsync ${tmp}`), fsynced, `${tmp} is fsynced once`);
    }
    assert.ok(!lines.slice(inc.at).some((l) => l.startsWith('sync ')), 'no flush after the renames');
    // Their folders are fsynced after the renames.
    for (const [w, dir] of [[inc, basename(join(inc.tmp, '..'))], [delta, '.hardback']] as const) {
      assert.ok(lines.slice(w.at).some((l) => l.startsWith('fsync ') && l.endsWith(`/${dir}`)), `${dir} is fsynced after its rename`);
    }
  });

  it('without syncfs each of the two temp files is fsynced before it is renamed', async () => {
    useSync(true);
    const lines = await secondRunLog('perfile');
    for (const target of ['increment.json', 'manifest.delta.jsonl']) {
      const w = finalWrite(lines, target);
      const fsynced = lines.indexOf(`fsync ${w.tmp}`);
      assert.ok(fsynced >= 0 && fsynced < w.at, `${w.tmp} is fsynced before its rename:\n${lines.join('\n')}`);
    }
  });
});
