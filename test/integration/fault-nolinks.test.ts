import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Fs } from '../../src/io/fs.js';
import { HardbackError } from '../../src/io/errors.js';
import { readJournal } from '../../src/store/journal.js';
import { Layout } from '../../src/store/layout.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { isRootUser, makeTree, readTree, removeDir, runCli, sha256File, tempDir, treeView } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { checkBackup, completeVersions, listIncrements, readIncrement } from '../helpers/fault-check.js';
import { backup } from '../helpers/fault-scenario.js';

/**
 * SPEC §6 "No hard links on the drive": detected at the start, before anything is written;
 * link_fallback "copy" copies instead (one notice, "link_mode": "copy"), "error" refuses (exit 1).
 * First through the fs seam (every link fails with EPERM), then on a real exFAT filesystem (FUSE):
 * no hard links, no owners or modes, case-folding names, and characters it cannot hold.
 */

let work = '';
before(() => {
  work = tempDir('hb-nolinks-');
});
after(() => removeDir(work));

const T1 = new Date('2026-06-01T10:00:00.000Z');
const T2 = new Date('2026-06-01T11:00:00.000Z');
const noLinks = (): Fs => faultyFs({ linkSync: () => 'EPERM' }) as Fs;

describe('a destination without hard links (linkSync fails with EPERM)', () => {
  it('link_fallback "copy": one notice, link_mode "copy", increments hold copies with the right content', async () => {
    const src = join(work, 'copy', 'src');
    const dist = join(work, 'copy', 'dist');
    makeTree(src, { 'a.txt': 'a v1\n', 'docs/b.md': 'b v1\n', 'docs/old.txt': 'to be deleted\n', 'photos/p.raw': 'x'.repeat(5000) });
    const o1 = await backup(src, dist, { fs: noLinks(), at: T1, profile: { rules: {}, linkFallback: 'copy' } });
    assert.equal(o1.linkMode, 'copy');
    assert.equal(o1.notices.filter((n) => /cannot hold hard links/.test(n)).length, 1, o1.notices.join('\n'));
    assert.deepEqual(o1.errors, []);

    fs.writeFileSync(join(src, 'a.txt'), 'a v2\n');
    fs.unlinkSync(join(src, 'docs/old.txt'));
    fs.renameSync(join(src, 'photos'), join(src, 'pictures')); // a move: linked (here: copied) from the backup
    const journalModes: string[] = [];
    const fsx = faultyFs({
      linkSync: () => 'EPERM',
      renameSync: () => {
        const j = readJournal(fs, new Layout(dist).journal);
        if (j !== undefined) journalModes.push(j.header.link_mode);
        return false;
      },
    }) as Fs;
    const o2 = await backup(src, dist, { fs: fsx, at: T2, profile: { rules: {}, linkFallback: 'copy' } });
    assert.equal(o2.linkMode, 'copy');
    assert.equal(o2.notices.filter((n) => /cannot hold hard links/.test(n)).length, 1);
    assert.ok(journalModes.length > 0 && journalModes.every((m) => m === 'copy'), 'the journal records link_mode "copy"');
    for (const id of listIncrements(dist)) {
      const inc = readIncrement(dist, id);
      assert.ok(inc.ok);
      assert.equal(inc.value.link_mode, 'copy');
    }
    // Copies, not links: a different inode from the mirror, the same content.
    const inc2 = o2.id ?? '';
    const mirrorA = join(dist, 'mirror', 'a.txt');
    const savedA = join(dist, 'increments', inc2, 'files', 'a.txt');
    assert.notEqual(fs.statSync(savedA).ino, fs.statSync(mirrorA).ino);
    assert.equal(fs.statSync(mirrorA).nlink, 1);
    assert.equal(sha256File(savedA), sha256File(mirrorA));
    assert.equal(fs.readFileSync(join(dist, 'increments', inc2, 'deleted', 'docs', 'old.txt'), 'utf8'), 'to be deleted\n');
    assert.equal(fs.readFileSync(join(dist, 'increments', inc2, 'files', 'pictures', 'p.raw'), 'utf8'), 'x'.repeat(5000));
    assert.deepEqual(checkBackup(dist, { source: src, versions: completeVersions(dist) }), []);
  });

  it('link_fallback "error": exit 1, and a new destination is not even created', async () => {
    const src = join(work, 'error', 'src');
    makeTree(src, { 'a.txt': 'a\n', 'b/c.txt': 'c\n' });
    const dist = join(work, 'error', 'dist');
    await assert.rejects(
      backup(src, dist, { fs: noLinks(), at: T1, profile: { rules: {}, linkFallback: 'error' } }),
      (err: unknown) => err instanceof HardbackError && err.exitCode === 1 && /cannot hold hard links.*link_fallback is "error"/.test(err.message),
    );
    assert.ok(!fs.existsSync(dist), `nothing written: ${fs.existsSync(dist) ? fs.readdirSync(dist, { recursive: true }).join(', ') : ''}`);

    // An existing empty destination folder stays empty.
    fs.mkdirSync(dist);
    await assert.rejects(backup(src, dist, { fs: noLinks(), at: T1, profile: { rules: {}, linkFallback: 'error' } }), HardbackError);
    assert.deepEqual(fs.readdirSync(dist), []);

    // A backup made where links worked, on a drive that lost them: refused, unchanged.
    fs.rmdirSync(dist);
    const o = await backup(src, dist, { at: T1, profile: { rules: {}, linkFallback: 'error' } });
    assert.equal(o.status, 'done');
    fs.writeFileSync(join(src, 'a.txt'), 'a changed\n');
    const before = treeView(readTree(dist, { skip: (r) => r === '.hardback/tmp' }), { mtimes: true });
    await assert.rejects(backup(src, dist, { fs: noLinks(), at: T2, profile: { rules: {}, linkFallback: 'error' } }), HardbackError);
    assert.deepEqual(treeView(readTree(dist, { skip: (r) => r === '.hardback/tmp' }), { mtimes: true }), before);
  });
});

describe('a real exFAT destination (FUSE)', { concurrency: false }, () => {
  let mnt = '';
  let loop = '';
  const skipReason = (): string | undefined => {
    if (!isRootUser()) return 'needs root: loop device and FUSE mount';
    for (const tool of ['mkfs.exfat', 'mount.exfat-fuse', 'losetup']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (exfatprogs, exfat-fuse)`;
    }
    if (!fs.existsSync('/dev/fuse')) return '/dev/fuse is missing';
    return undefined;
  };
  const reason = skipReason();

  before(() => {
    if (reason !== undefined) return;
    const img = join(work, 'exfat.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 << 20);
    const mk = spawnSync('mkfs.exfat', [img], { encoding: 'utf8' });
    if (mk.status !== 0) throw new Error(`mkfs.exfat: ${mk.stderr}`);
    const lo = spawnSync('losetup', ['-f', '--show', img], { encoding: 'utf8' });
    if (lo.status !== 0) throw new Error(`losetup: ${lo.stderr}`);
    loop = lo.stdout.trim();
    mnt = join(work, 'exfat');
    fs.mkdirSync(mnt);
    const m = spawnSync('mount.exfat-fuse', [loop, mnt], { encoding: 'utf8' });
    if (m.status !== 0) throw new Error(`mount.exfat-fuse: ${m.stderr}`);
  });
  after(() => {
    if (mnt !== '') spawnSync('umount', [mnt]);
    if (loop !== '') spawnSync('losetup', ['-d', loop]);
  });

  it('link_mode copy; a case collision and names with ":" or "?" are per-file errors (exit 3) that never overwrite another file', (t) => {
    if (reason !== undefined) return t.skip(reason);
    const backupJs = ensureBuilt();
    const src = join(work, 'exsrc');
    makeTree(src, {
      'Readme.md': 'the first readme\n',
      'README.md': 'THE SECOND README, LONGER\n',
      'a:b.txt': 'colon\n',
      'what?.txt': 'question mark\n',
      'docs/ok.txt': 'fine\n',
      'docs/Notes/n.txt': 'note\n',
      'docs/notes/other.txt': 'collides through its folder\n',
      'plain.txt': 'plain\n',
    });
    // Owned by someone else: a drive without owners cannot take chown, which must not fail the file.
    spawnSync('chown', ['-R', 'nobody:nogroup', join(src, 'docs'), join(src, 'plain.txt')]);
    const dist = join(mnt, 'Backups');
    const cfg = join(work, 'exfat.json');
    fs.writeFileSync(cfg, JSON.stringify({ src, dist }));

    const r = runCli(backupJs, [cfg, '--json']);
    assert.equal(r.code, 3, r.stderr);
    const out = JSON.parse(r.stdout) as { profiles: { link_mode: string; increment: string; errors: { path: string; code: string; message: string }[] }[] };
    const p = out.profiles[0];
    assert.ok(p !== undefined);
    assert.equal(p.link_mode, 'copy');
    assert.match(r.stderr, /cannot hold hard links/);
    const byPath = new Map(p.errors.map((e) => [e.path, e]));
    // Exactly one of each case pair is refused; the other is stored intact with its own content.
    const readmes = ['Readme.md', 'README.md'].filter((x) => byPath.has(x));
    assert.equal(readmes.length, 1, JSON.stringify(p.errors));
    assert.equal(byPath.get(readmes[0] ?? '')?.code, 'ECASE');
    const kept = readmes[0] === 'Readme.md' ? 'README.md' : 'Readme.md';
    assert.equal(fs.readFileSync(join(dist, 'mirror', kept), 'utf8'), fs.readFileSync(join(src, kept), 'utf8'));
    assert.ok(byPath.has('docs/Notes') !== byPath.has('docs/notes'), 'one of the colliding folders is refused');
    assert.ok(byPath.has('a:b.txt'), JSON.stringify(p.errors));
    assert.ok(byPath.has('what?.txt'), JSON.stringify(p.errors));
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'plain.txt'), 'utf8'), 'plain\n');
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'docs', 'ok.txt'), 'utf8'), 'fine\n');
    const inc = readIncrement(dist, p.increment);
    assert.ok(inc.ok);
    assert.equal(inc.value.link_mode, 'copy');
    assert.ok(inc.value.errors.length >= 4);
    assert.deepEqual(checkBackup(dist, { ignoreModes: true }), []);

    // A second run with a change: the refused names stay refused, the change goes through, nothing else moves.
    const versions = completeVersions(dist);
    fs.writeFileSync(join(src, 'plain.txt'), 'plain v2\n');
    fs.writeFileSync(join(src, kept), 'the kept readme, edited\n');
    const r2 = runCli(backupJs, [cfg, '--json']);
    assert.equal(r2.code, 3, r2.stderr);
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'plain.txt'), 'utf8'), 'plain v2\n');
    assert.equal(fs.readFileSync(join(dist, 'mirror', kept), 'utf8'), 'the kept readme, edited\n');
    assert.deepEqual(checkBackup(dist, { ignoreModes: true, versions }), []);
  });
});
