import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Fs } from '../../src/io/fs.js';
import { readManifest } from '../../src/store/manifest.js';
import { Layout } from '../../src/store/layout.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { isRootUser, makeTree, removeDir, runCli, sha256File, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { checkBackup, completeVersions, listIncrements, readIncrement } from '../helpers/fault-check.js';
import { backup } from '../helpers/fault-scenario.js';

/**
 * SPEC §6 "Per-file faults": a file that cannot be read, that vanishes, grows, or becomes a folder
 * between the scan and its copy, a name that is not valid UTF-8. Each is listed in `errors` (exit 3),
 * the rest of the run completes, and the previous version of that file stays in the mirror.
 */

let work = '';
before(() => {
  work = tempDir('hb-perfile-');
  fs.chmodSync(work, 0o755);
});
after(() => removeDir(work));

const T1 = new Date('2026-04-01T10:00:00.000Z');
const T2 = new Date('2026-04-01T11:00:00.000Z');
const T3 = new Date('2026-04-01T12:00:00.000Z');
const T4 = new Date('2026-04-01T13:00:00.000Z');

function mirrorSha(dist: string, rel: string): string {
  return sha256File(join(dist, 'mirror', rel));
}

describe('unreadable files (the program run as nobody)', () => {
  it('a chmod 000 file and a chmod 000 folder: exit 3, listed in increment.json and --json, previous versions kept, the rest completes', (t) => {
    if (!isRootUser()) return t.skip('needs root: runs the backup as nobody over files it cannot read');
    const backupJs = ensureBuilt();
    const base = join(work, 'nobody');
    const src = join(base, 'src');
    makeTree(src, {
      'a.txt': 'a v1\n',
      'secret.txt': 'secret v1\n',
      'locked/inside.txt': 'inside v1\n',
      'open/b.txt': 'b v1\n',
    });
    fs.mkdirSync(join(base, 'out'));
    spawnSync('chown', ['-R', 'nobody:nogroup', base]);
    const dist = join(base, 'out', 'backup');
    const cfg = join(base, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ src, dist }));
    const asNobody = (...args: string[]) => {
      const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, backupJs, cfg, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };

    const r1 = asNobody();
    assert.equal(r1.code, 0, r1.stderr);
    const oldSecret = mirrorSha(dist, 'secret.txt');
    const oldInside = mirrorSha(dist, 'locked/inside.txt');

    fs.writeFileSync(join(src, 'secret.txt'), 'secret v2, unreadable\n');
    fs.chmodSync(join(src, 'secret.txt'), 0o000);
    fs.chmodSync(join(src, 'locked'), 0o000);
    fs.writeFileSync(join(src, 'a.txt'), 'a v2\n');
    fs.writeFileSync(join(src, 'open/new.txt'), 'new\n');

    const r2 = asNobody('--json');
    assert.equal(r2.code, 3, r2.stderr);
    const out = JSON.parse(r2.stdout) as { exit: number; profiles: { errors: { path: string; code: string }[]; increment: string }[] };
    assert.equal(out.exit, 3);
    const p = out.profiles[0];
    assert.ok(p !== undefined);
    const errorPaths = p.errors.map((e) => `${e.path} ${e.code}`);
    assert.ok(errorPaths.includes('secret.txt EACCES'), `--json errors: ${errorPaths.join(', ')}`);
    assert.ok(p.errors.some((e) => e.path === 'locked' && e.code === 'EACCES'), `--json errors: ${errorPaths.join(', ')}`);
    const inc = readIncrement(dist, p.increment);
    assert.ok(inc.ok);
    assert.deepEqual(inc.value.errors.map((e) => `${e.path} ${e.code}`).sort(), [...errorPaths].sort(), 'increment.json lists the same errors');
    // Previous versions kept; nothing below the unreadable folder counted as deleted.
    assert.equal(mirrorSha(dist, 'secret.txt'), oldSecret);
    assert.equal(mirrorSha(dist, 'locked/inside.txt'), oldInside);
    assert.deepEqual(inc.value.deleted, []);
    // The rest completed.
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'a.txt'), 'utf8'), 'a v2\n');
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'open/new.txt'), 'utf8'), 'new\n');
    assert.deepEqual(checkBackup(dist), []);

    fs.chmodSync(join(src, 'secret.txt'), 0o644);
    fs.chmodSync(join(src, 'locked'), 0o755);
    const r3 = asNobody();
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(checkBackup(dist, { source: src }), []);
  });
});

describe('files that change between the scan and the copy (through the fs seam)', { concurrency: false }, () => {
  /** A source backed up once, then `target` changed so the next run copies it, plus one ordinary change. */
  async function setup(name: string, v2: string) {
    const src = join(work, name, 'src');
    const dist = join(work, name, 'dist');
    makeTree(src, { 'target.txt': 'target v1\n', 'other.txt': 'other v1\n', 'keep.txt': 'unchanged\n' });
    const o = await backup(src, dist, { at: T1, profile: { rules: {} } });
    assert.equal(o.status, 'done');
    fs.writeFileSync(join(src, 'target.txt'), v2);
    fs.writeFileSync(join(src, 'other.txt'), 'other v2\n');
    return { src, dist, target: join(src, 'target.txt'), oldSha: mirrorSha(dist, 'target.txt'), versions: completeVersions(dist) };
  }

  async function expectPerFileFault(name: string, mutate: (target: string) => void, when: 'open' | 'read', expectCode: string, expectWords: RegExp, v2 = 'target v2, longer\n') {
    const { src, dist, target, oldSha, versions } = await setup(name, v2);
    let armed = false;
    const fsx = faultyFs({
      openSync: (p) => {
        if (String(p) !== target) return false;
        if (when === 'open') mutate(target);
        else armed = true;
        return false;
      },
      read: () => {
        if (armed) {
          armed = false;
          mutate(target);
        }
        return false;
      },
      // Small files are copied with synchronous calls.
      readSync: () => {
        if (armed) {
          armed = false;
          mutate(target);
        }
        return false;
      },
    });
    const o = await backup(src, dist, { fs: fsx as Fs, at: T2, profile: { rules: {} } });
    // Exit 3 semantics: the run finished, the file is listed, the rest went through.
    assert.equal(o.status, 'done');
    const err = o.errors.find((e) => e.path === 'target.txt');
    assert.ok(err !== undefined, `target.txt is listed in errors: ${JSON.stringify(o.errors)}`);
    assert.equal(err.code, expectCode);
    assert.match(err.message, expectWords);
    const inc = readIncrement(dist, o.id ?? '');
    assert.ok(inc.ok && inc.value.errors.some((e) => e.path === 'target.txt'), 'increment.json lists it');
    assert.ok(inc.ok && ![...inc.value.new, ...inc.value.changed].some((r) => r.path === 'target.txt'), 'no version of it is recorded');
    assert.equal(mirrorSha(dist, 'target.txt'), oldSha, 'the previous version stays in the mirror');
    assert.equal(readManifest(fs, new Layout(dist).manifest).entries.get('target.txt')?.sha256, oldSha, 'the manifest still records the previous version');
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'other.txt'), 'utf8'), 'other v2\n');
    assert.deepEqual(checkBackup(dist, { versions }), []);
    // The next run picks up whatever the file is now.
    const o2 = await backup(src, dist, { at: T3, profile: { rules: {} } });
    assert.deepEqual(o2.errors, []);
    assert.deepEqual(checkBackup(dist, { source: src, versions }), []);
    const o3 = await backup(src, dist, { at: T4, profile: { rules: {} } });
    assert.equal(o3.status, 'no-change');
  }

  it('a file that vanishes before its copy: error, previous version kept', async () => {
    await expectPerFileFault('vanish', (p) => fs.unlinkSync(p), 'open', 'ECHANGED', /vanished/);
  });

  it('a file that grows during its copy: error, previous version kept', async () => {
    await expectPerFileFault('grow', (p) => fs.appendFileSync(p, 'appended while being copied\n'), 'read', 'ECHANGED', /changed while/);
  });

  it('a file rewritten with the same size during its copy (mtime moves): error, previous version kept', async () => {
    await expectPerFileFault('rewrite', (p) => {
      const st = fs.statSync(p);
      fs.writeFileSync(p, 'X'.repeat(st.size));
      fs.utimesSync(p, st.atime, new Date(st.mtimeMs + 5000));
    }, 'read', 'ECHANGED', /changed while/);
  });

  it('a file replaced by a folder between the scan and its copy: error, previous version kept, never stored as a file', async () => {
    await expectPerFileFault('to-folder', (p) => {
      fs.unlinkSync(p);
      fs.mkdirSync(p);
      fs.writeFileSync(join(p, 'child.txt'), 'in the folder\n');
    }, 'open', 'ECHANGED', /no longer a regular file/);
  });

  it('a file emptied, then replaced by a folder between the scan and its copy (nothing to read): the same', async () => {
    await expectPerFileFault('empty-to-folder', (p) => {
      fs.unlinkSync(p);
      fs.mkdirSync(p);
    }, 'open', 'ECHANGED', /no longer a regular file/, '');
  });
});

describe('a file over the drive\'s size limit (FAT32: 4 GiB)', () => {
  it('EFBIG while writing its copy: a per-file error, previous version kept, the rest completes', async () => {
    const src = join(work, 'efbig', 'src');
    const dist = join(work, 'efbig', 'dist');
    makeTree(src, { 'huge.iso': 'small stand-in v1\n', 'other.txt': 'other v1\n' });
    await backup(src, dist, { at: T1, profile: { rules: {} } });
    const oldSha = mirrorSha(dist, 'huge.iso');
    fs.writeFileSync(join(src, 'huge.iso'), 'small stand-in v2, pretend it is 5 GiB\n');
    fs.writeFileSync(join(src, 'other.txt'), 'other v2\n');
    // The drive refuses the size once the copy's first write is made (as FAT32 does past 4 GiB - 1).
    let copying = false;
    const fsx = faultyFs({
      openSync: (p) => {
        if (String(p) === join(src, 'huge.iso')) copying = true;
        return false;
      },
      write: () => {
        if (!copying) return false;
        copying = false;
        return 'EFBIG';
      },
      writeSync: () => {
        if (!copying) return false;
        copying = false;
        return 'EFBIG';
      },
    });
    const o = await backup(src, dist, { fs: fsx as Fs, at: T2, profile: { rules: {} } });
    assert.equal(o.status, 'done');
    assert.deepEqual(o.errors.map((e) => `${e.path} ${e.code}`), ['huge.iso EFBIG']);
    assert.equal(mirrorSha(dist, 'huge.iso'), oldSha);
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'other.txt'), 'utf8'), 'other v2\n');
    assert.deepEqual(checkBackup(dist), []);
  });
});

describe('invalid UTF-8 file names', () => {
  it('reported as errors with exit 3, never stored under a mangled name; the rest is backed up', (t) => {
    const backupJs = ensureBuilt();
    const base = join(work, 'utf8');
    const src = join(base, 'src');
    makeTree(src, { 'good.txt': 'fine\n', 'dir/ok.txt': 'fine too\n' });
    const bad = (parent: string, bytes: number[]) => Buffer.concat([Buffer.from(`${parent}/`), Buffer.from(bytes)]);
    // "caf\xe9.txt" (latin-1), a lone continuation byte, and a folder with an invalid name holding a file.
    fs.writeFileSync(bad(src, [0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]), 'latin-1 name\n');
    fs.writeFileSync(bad(join(src, 'dir'), [0x80, 0x41]), 'lone continuation byte\n');
    const badDir = bad(src, [0x64, 0xff, 0x64]);
    fs.mkdirSync(badDir);
    fs.writeFileSync(Buffer.concat([badDir, Buffer.from('/inner.txt')]), 'inside a badly named folder\n');
    const dist = join(base, 'backup');
    const cfg = join(base, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ src, dist }));

    const r = runCli(backupJs, [cfg, '--json']);
    assert.equal(r.code, 3, r.stderr);
    const out = JSON.parse(r.stdout) as { profiles: { errors: { path: string; code: string; message: string }[]; increment: string }[] };
    const errs = out.profiles[0]?.errors ?? [];
    assert.equal(errs.filter((e) => e.code === 'EILSEQ').length, 3, JSON.stringify(errs));
    assert.ok(errs.every((e) => /not valid UTF-8/.test(e.message)));
    const inc = readIncrement(dist, out.profiles[0]?.increment ?? '');
    assert.ok(inc.ok);
    assert.equal(inc.value.errors.filter((e) => e.code === 'EILSEQ').length, 3);
    // Every name anywhere on the destination is valid UTF-8: nothing stored under a mangled name.
    const walk = (dir: Buffer): string[] => {
      const names: string[] = [];
      for (const raw of fs.readdirSync(dir, { encoding: 'buffer' })) {
        const s = raw.toString('utf8');
        if (!Buffer.from(s, 'utf8').equals(raw) || s.includes('\uFFFD')) names.push(raw.toString('latin1'));
        const p = Buffer.concat([dir, Buffer.from('/'), raw]);
        if (fs.lstatSync(p).isDirectory()) names.push(...walk(p));
      }
      return names;
    };
    assert.deepEqual(walk(Buffer.from(dist)), []);
    const mirrored = fs.readdirSync(join(dist, 'mirror')).sort();
    assert.deepEqual(mirrored, ['dir', 'good.txt']);
    assert.deepEqual(fs.readdirSync(join(dist, 'mirror', 'dir')), ['ok.txt']);
    for (const rec of [...inc.value.new, ...inc.value.changed]) assert.ok(!rec.path.includes('\uFFFD'), rec.path);
    assert.deepEqual(checkBackup(dist), []);
    assert.equal(listIncrements(dist).length, 1);
    // A second run: the same errors, nothing else to do (exit 3, no new increment).
    const r2 = runCli(backupJs, [cfg]);
    assert.equal(r2.code, 3, r2.stderr);
    assert.equal(listIncrements(dist).length, 1);
    t.diagnostic(r2.stderr.split('\n').filter((l) => /UTF-8/.test(l)).join(' | '));
  });
});

describe('a version that cannot be placed, and whose increment link cannot be removed', () => {
  it('stops the run (the link is not left behind unlisted); the next run recovers and the backup is whole', async () => {
    const src = join(work, 'stray-src');
    const dist = join(work, 'stray-dist');
    fs.mkdirSync(src);
    fs.writeFileSync(join(src, 'a.txt'), 'a v1\n');
    fs.writeFileSync(join(src, 'b.txt'), 'b v1\n');
    const o1 = await backup(src, dist, { at: T1, profile: { rules: {} } });
    assert.equal(o1.status, 'done');
    const versions = completeVersions(dist);
    fs.writeFileSync(join(src, 'a.txt'), 'a v2, changed\n');
    fs.writeFileSync(join(src, 'b.txt'), 'b v2, changed\n');
    // b.txt's rename into the mirror fails (a per-file fault), and so does removing its files/ link.
    const fsx = faultyFs({
      renameSync: (from, n) => (String(from).includes('/.hardback/tmp/') && n >= 0 && placing(String(from)) ? 'EACCES' : false),
      unlinkSync: (p) => (String(p).includes('/files/') && String(p).endsWith('b.txt') ? 'EPERM' : false),
    });
    // Only b.txt's rename: the temp file that was linked to files/b.txt.
    const placing = (tmp: string): boolean => {
      const incs = listIncrements(dist);
      const last = incs[incs.length - 1];
      if (last === undefined) return false;
      try {
        return fs.statSync(join(dist, 'increments', last, 'files', 'b.txt')).ino === fs.statSync(tmp).ino;
      } catch {
        return false;
      }
    };
    await assert.rejects(backup(src, dist, { fs: fsx as Fs, at: T2, profile: { rules: {} } }), /could not be removed/);
    // The next run finishes the stopped one: no unlisted version in any increment.
    const o3 = await backup(src, dist, { at: T3, profile: { rules: {} } });
    assert.equal(o3.status, 'done');
    assert.deepEqual(o3.errors, []);
    assert.deepEqual(checkBackup(dist, { source: src, versions }), []);
    for (const id of listIncrements(dist)) {
      const inc = readIncrement(dist, id);
      assert.ok(inc.ok);
      const listed = new Set([...inc.value.new, ...inc.value.changed].map((r) => r.path));
      const filesDir = join(dist, 'increments', id, 'files');
      for (const f of fs.existsSync(filesDir) ? fs.readdirSync(filesDir) : []) assert.ok(listed.has(f), `increment ${id}: files/${f} is listed`);
    }
  });
});
