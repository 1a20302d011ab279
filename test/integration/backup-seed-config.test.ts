/**
 * The seed config of SPEC §1, unchanged, end to end: loaded from a config.json (with "~" pointing at
 * a temp home), backed up twice with runBackup, the mirror and increments checked path by path.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { runBackup, type BackupOutcome } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import type { Profile } from '../../src/config/profiles.js';
import { makeTree, tempDir } from '../helpers/tree.js';
import { forceRemove, nonDirs, readDiskTree, readIncrement, sha256Of } from '../helpers/model-dist.js';

const SEED_CONFIG = `{
  "src": "~/Documents",
  "dist": "~/Backups",
  "include_dirs": ["Projects", "Notes"],
  "track_dirs": ["Projects"],
  "include_files": ["todo.txt", "readme.md"],
  "track_files": ["todo.txt"],
  "exclude_dirs": ["Temp", "Cache"],
  "exclude_files": ["*.log", "*.tmp"],
  "max_workers": 8
}
`;

let home = '';
let profile: Profile;
let src = '';
let dist = '';
const backup = (): Promise<BackupOutcome> => runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter });

before(() => {
  home = tempDir('hb-seed-');
  fs.writeFileSync(join(home, 'config.json'), SEED_CONFIG);
  const profiles = loadConfig(join(home, 'config.json'), { home });
  assert.equal(profiles.length, 1);
  profile = profiles[0] as Profile;
  src = join(home, 'Documents');
  dist = join(home, 'Backups');
  makeTree(src, {
    'Projects/a.txt': 'project a',
    'Projects/sub/b.md': 'project b',
    'Projects/empty': { dir: true },
    'Projects/Temp/t.txt': 'excluded: Temp at any depth',
    'Projects/Cache/c.bin': 'excluded: Cache at any depth',
    'Projects/build.log': 'excluded: *.log',
    'Projects/sub/scratch.tmp': 'excluded: *.tmp',
    'Projects/Tempest.txt': 'included: not a folder named Temp',
    'Notes/n.txt': 'note',
    'Notes/old.log': 'excluded',
    'Notes/Deep/empty': { dir: true },
    'todo.txt': 'buy milk',
    'readme.md': 'read me',
    'other.txt': 'not included',
    'Other/f.txt': 'not included',
    'Other/empty': { dir: true },
    'Temp/x.txt': 'not included and excluded',
    'sub/todo.txt': 'include_files names a path from src: not this one',
  });
});
after(() => forceRemove(home));

describe('the seed config of SPEC §1, end to end', () => {
  it('the profile is the seed example with ~ expanded', () => {
    assert.equal(profile.name, 'default');
    assert.equal(profile.src, src);
    assert.equal(profile.dist, dist);
    assert.equal(profile.maxWorkers, 8);
  });

  it('first run: mirror = include minus exclude; history only for tracked files', async () => {
    const o = await backup();
    assert.equal(o.status, 'done');
    assert.deepEqual(o.errors, []);
    const mirror = readDiskTree(join(dist, 'mirror'));
    assert.deepEqual([...mirror.keys()].sort(), [
      'Notes',
      'Notes/Deep',
      'Notes/Deep/empty',
      'Notes/n.txt',
      'Projects',
      'Projects/Tempest.txt',
      'Projects/a.txt',
      'Projects/empty',
      'Projects/sub',
      'Projects/sub/b.md',
      'readme.md',
      'todo.txt',
    ]);
    assert.equal(mirror.get('Projects/a.txt')?.sha256, sha256Of(join(src, 'Projects/a.txt')));
    assert.equal(mirror.get('todo.txt')?.sha256, sha256Of(join(src, 'todo.txt')));

    const inc = readIncrement(dist, o.id as string);
    const tracked = Object.fromEntries(inc.new.map((r) => [r.path, r.tracked]));
    assert.deepEqual(tracked, {
      Notes: false,
      'Notes/Deep': false,
      'Notes/Deep/empty': false,
      'Notes/n.txt': false,
      Projects: true,
      'Projects/Tempest.txt': true,
      'Projects/a.txt': true,
      'Projects/empty': true,
      'Projects/sub': true,
      'Projects/sub/b.md': true,
      'readme.md': false,
      'todo.txt': true,
    });
    const files = nonDirs(readDiskTree(join(dist, 'increments', o.id as string, 'files')));
    assert.deepEqual([...files.keys()].sort(), ['Projects/Tempest.txt', 'Projects/a.txt', 'Projects/sub/b.md', 'todo.txt']);
    for (const [p, f] of files) assert.equal(f.ino, mirror.get(p)?.ino, `${p} is linked, not copied`);
  });

  it('changes to excluded and unselected files are no change', async () => {
    fs.appendFileSync(join(src, 'Projects/build.log'), 'more');
    fs.appendFileSync(join(src, 'Other/f.txt'), 'more');
    fs.writeFileSync(join(src, 'Projects/Temp/new.txt'), 'new');
    fs.writeFileSync(join(src, 'Notes/new.tmp'), 'new');
    const o = await backup();
    assert.equal(o.status, 'no-change');
    assert.equal(o.id, null);
    assert.equal(fs.readdirSync(join(dist, 'increments')).length, 1);
  });

  it('second run: tracked versions are kept, untracked ones are only mirrored', async () => {
    fs.writeFileSync(join(src, 'Projects/a.txt'), 'project a, version 2');
    fs.writeFileSync(join(src, 'Notes/n.txt'), 'note, version 2');
    fs.rmSync(join(src, 'todo.txt'));
    fs.rmSync(join(src, 'readme.md'));
    const oldTodo = readDiskTree(join(dist, 'mirror')).get('todo.txt');
    const o = await backup();
    assert.equal(o.status, 'done');
    const inc = readIncrement(dist, o.id as string);
    assert.deepEqual(
      inc.changed.map((r) => `${r.path}:${r.tracked}`).sort(),
      ['Notes/n.txt:false', 'Projects/a.txt:true'],
    );
    assert.deepEqual(inc.new, []);
    assert.deepEqual(inc.deleted.map((r) => `${r.path}:${r.tracked}`).sort(), ['readme.md:false', 'todo.txt:true']);
    assert.deepEqual(inc.summary, { new: 0, changed: 2, deleted: 2, errors: 0, bytes_copied: 'project a, version 2'.length + 'note, version 2'.length });

    const incDir = join(dist, 'increments', o.id as string);
    assert.deepEqual([...nonDirs(readDiskTree(join(incDir, 'files'))).keys()], ['Projects/a.txt']);
    const deleted = nonDirs(readDiskTree(join(incDir, 'deleted')));
    assert.deepEqual([...deleted.keys()], ['todo.txt']);
    assert.equal(deleted.get('todo.txt')?.ino, oldTodo?.ino);
    assert.equal(fs.readFileSync(join(incDir, 'deleted', 'todo.txt'), 'utf8'), 'buy milk');

    const mirror = readDiskTree(join(dist, 'mirror'));
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'Notes/n.txt'), 'utf8'), 'note, version 2');
    assert.equal(mirror.has('todo.txt'), false);
    assert.equal(mirror.has('readme.md'), false);
  });
});
