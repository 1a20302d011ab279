/**
 * The built `backup-tool`, end to end (SPEC §4, §5): copied with backup.js and a config.json into a
 * folder, as on a USB stick; the seed's two invocations, the --json shapes, the exit codes, and the
 * interactive menu through a pseudo-terminal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, REPO, TOOL_JS, makeTree, readTree, removeDir, runCli, tempDir, type TreeItem } from '../helpers/tree.js';

let root = '';
let stick = '';
let data = '';
let backupDir = '';
let tool = '';
const ids: string[] = [];
let lastSnapshot = new Map<string, TreeItem>();

before(() => {
  if (!fs.existsSync(BACKUP_JS) || !fs.existsSync(TOOL_JS)) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, `build failed: ${r.stderr}`);
  }
  root = tempDir('hb-tool-e2e-');
  stick = join(root, 'stick');
  data = join(stick, 'Documents');
  backupDir = join(stick, 'Backups');
  fs.mkdirSync(stick);
  fs.copyFileSync(BACKUP_JS, join(stick, 'backup.js'));
  fs.copyFileSync(TOOL_JS, join(stick, 'backup-tool.js'));
  tool = join(stick, 'backup-tool.js');
  // The seed's config, with relative paths on the stick.
  fs.writeFileSync(
    join(stick, 'config.json'),
    JSON.stringify({
      src: 'Documents',
      dist: 'Backups',
      include_dirs: ['Projects', 'Notes'],
      track_dirs: ['Projects'],
      include_files: ['todo.txt', 'readme.md'],
      track_files: ['todo.txt'],
      exclude_dirs: ['Temp', 'Cache'],
      exclude_files: ['*.log', '*.tmp'],
      max_workers: 8,
    }),
  );
  makeTree(data, {
    'Projects/app/main.py': 'print(1)\n',
    'Projects/app/util.py': 'x = 1\n',
    'Projects/paper.pdf': '%PDF-1.4 fake',
    'Projects/notes.md': '# notes\n',
    'Projects/Cache/junk.py': 'cached',
    'Notes/idea.md': 'idea',
    'todo.txt': 'buy milk',
    'readme.md': 'readme',
    'other.txt': 'not included',
    'build.log': 'excluded',
  });
  const backup = (n: number) => {
    const r = runCli(join(stick, 'backup.js'), ['--json'], { cwd: stick });
    assert.equal(r.code, 0, `backup ${n}: ${r.stderr}`);
    ids.push((JSON.parse(r.stdout) as { profiles: { increment: string }[] }).profiles[0]?.increment as string);
  };
  backup(1);
  // Increment ids have one-second resolution: wait for the next second.
  const next = Math.ceil(Date.now() / 1000) * 1000;
  while (Date.now() < next + 5) {
    // busy wait, well under a second
  }
  fs.writeFileSync(join(data, 'Projects/app/main.py'), 'print(2)\n');
  fs.rmSync(join(data, 'Projects/notes.md'));
  fs.writeFileSync(join(data, 'Notes/idea.md'), 'a better idea');
  backup(2);
  lastSnapshot = readTree(data);
});
after(() => removeDir(root));

const run = (args: string[], cwd = stick) => runCli(tool, args, { cwd });

describe('the seed invocations', () => {
  it('backup-tool /path/backup search --mask "*.py" --mask "*.pdf" --mask "*.md"', () => {
    const r = run([backupDir, 'search', '--mask', '*.py', '--mask', '*.pdf', '--mask', '*.md'], root);
    assert.equal(r.code, 0, r.stderr);
    const paths = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(' ') && !l.endsWith('found'));
    assert.deepEqual(paths, ['Notes/idea.md', 'Projects/app/main.py', 'Projects/app/util.py', 'Projects/notes.md  (deleted: not in the mirror)', 'Projects/paper.pdf', 'readme.md']);
    assert.match(r.stdout, /6 paths found/);
  });

  it('backup-tool recreate --force (config beside the program, from any folder)', () => {
    fs.rmSync(join(data, 'Projects/app'), { recursive: true });
    fs.writeFileSync(join(data, 'todo.txt'), 'scribbled over');
    fs.writeFileSync(join(data, 'Projects/extra.txt'), 'new, never backed up');
    const elsewhere = join(root, 'elsewhere');
    fs.mkdirSync(elsewhere, { recursive: true });
    const r = run(['recreate', '--force'], elsewhere);
    assert.equal(r.code, 0, r.stderr);
    const now = readTree(data);
    for (const [p, v] of lastSnapshot) {
      if (p === 'Notes/idea.md' || p.startsWith('Projects/Cache') || p === 'other.txt' || p === 'build.log') continue;
      assert.equal(now.get(p)?.sha256, v.sha256, p);
    }
    assert.equal(fs.readFileSync(join(data, 'todo.txt'), 'utf8'), 'buy milk');
    assert.equal(fs.readFileSync(join(data, 'Projects/extra.txt'), 'utf8'), 'new, never backed up', 'nothing is deleted');
  });
});

/** The JSON document of a command, with its key set checked (the shapes are documented: keep them stable). */
function json(args: string[], keys: string[]): Record<string, unknown> {
  const r = run([backupDir, ...args, '--json']);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc).sort(), ['hardback', 'command', 'backup', 'source', 'exit', 'problems', ...keys].sort(), args.join(' '));
  assert.equal(doc.exit, r.code);
  return doc;
}

describe('--json shapes', () => {
  it('list', () => {
    const d = json(['list'], ['increments']);
    const inc = (d.increments as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(inc).sort(), ['complete', 'finished', 'id', 'pending', 'profile', 'readable', 'started', 'summary', 'time']);
    assert.deepEqual(Object.keys(inc.summary as object).sort(), ['bytes_copied', 'changed', 'deleted', 'errors', 'new']);
  });
  it('search and history', () => {
    const s = json(['search', '--mask', 'main.py'], ['masks', 'deleted_only', 'since', 'until', 'results']);
    const res = (s.results as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(res).sort(), ['current', 'in_mirror', 'path', 'type', 'versions']);
    const v = (res.versions as Record<string, unknown>[])[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(v).sort(), ['carried', 'content', 'increment', 'mode', 'mtime', 'mtime_ns', 'sha256', 'size', 'status', 'time', 'tracked', 'type']);
    const h = json(['history', 'Projects/app/main.py'], ['path', 'in_mirror', 'versions']);
    assert.equal((h.versions as unknown[]).length, 2);
  });
  it('restore and recreate', () => {
    const keys = ['at', 'target', 'dry_run', 'performed', 'writes', 'conflicts', 'not_recoverable', 'unavailable', 'errors', 'summary'];
    const r = json(['restore', 'Projects/notes.md', '--to', join(root, 'j'), '--dry-run'], [...keys, 'paths']);
    assert.deepEqual(r.paths, [{ path: 'Projects/notes.md', at: null, before: ids[1], deleted_in: ids[1] }]);
    const c = json(['recreate', '--at', ids[0] as string, '--to', join(root, 'j'), '--dry-run'], keys);
    assert.deepEqual(Object.keys(c.summary as object).sort(), ['bytes', 'conflicts', 'errors', 'identical', 'not_recoverable', 'unavailable', 'written']);
    assert.deepEqual(c.not_recoverable, ['Notes/idea.md']);
    assert.equal(fs.existsSync(join(root, 'j')), false);
  });
  it('diff and verify', () => {
    const d = json(['diff', ids[0] as string, ids[1] as string], ['from', 'to', 'added', 'changed', 'deleted', 'unknown']);
    assert.deepEqual(d.deleted, [{ path: 'Projects/notes.md', type: 'file' }]);
    assert.deepEqual((d.changed as { path: string }[]).map((c) => c.path), ['Notes/idea.md', 'Projects/app/main.py']);
    const v = json(['verify', '--data'], ['data', 'ok', 'checked', 'findings', 'notices']);
    assert.equal(v.ok, true);
  });
});

describe('exit codes', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['success', [backupDir, 'list'], 0, /increments/],
    ['help', ['--help'], 0, /Usage: backup-tool/],
    ['a command’s help', ['restore', '--help'], 0, /Usage: backup-tool \[WHERE\] restore/],
    ['version', ['--version'], 0, /hardback \d/],
    ['unknown command', [backupDir, 'frobnicate'], 2, /unknown command "frobnicate"/],
    ['unknown option', [backupDir, 'list', '--frob'], 2, /Unknown option/i],
    ['an option of another command', [backupDir, 'list', '--force'], 2, /--force is not an option of list/],
    ['unknown WHEN', [backupDir, 'recreate', '--at', 'nope', '--to', '/dev/null/x'], 2, /no increment matches "nope"/],
    ['a path outside the source', [backupDir, 'restore', '../x'], 2, /not a path inside the backup/],
    ['no command, not a terminal', [backupDir], 2, /Usage: backup-tool/],
    ['a folder that is no backup', [root, 'list'], 2, /neither a backup folder/],
    ['a path never backed up', [backupDir, 'history', 'nothing/here'], 1, /no version of nothing\/here/],
  ];
  for (const [name, args, code, text] of cases) {
    it(`${name}: exit ${code}`, () => {
      const r = run(args);
      assert.equal(r.code, code, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout + r.stderr, text);
    });
  }
  it('a target inside the backup, also through a symlink: exit 2, nothing written', () => {
    const alias = join(root, 'alias-of-backup');
    fs.symlinkSync(backupDir, alias);
    const before = fs.readdirSync(backupDir).sort();
    for (const to of [join(backupDir, 'restored'), join(alias, 'restored')]) {
      const r = run([backupDir, 'restore', 'Projects/app', '--to', to]);
      assert.equal(r.code, 2, `${to}: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /lies inside the backup/);
    }
    assert.deepEqual(fs.readdirSync(backupDir).sort(), before);
  });
  it('conflicts: exit 1, listed on stderr, nothing written', () => {
    const t = join(root, 'conflict');
    fs.mkdirSync(join(t, 'Projects/app'), { recursive: true });
    fs.writeFileSync(join(t, 'Projects/app/main.py'), 'mine');
    const r = run([backupDir, 'restore', 'Projects/app', '--to', t]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Projects\/app\/main\.py: a file with different content exists/);
    assert.deepEqual(fs.readdirSync(join(t, 'Projects/app')), ['main.py']);
  });
  it('several profiles need --profile (exit 2, naming them), and --profile picks one', () => {
    const dir = join(root, 'multi');
    fs.mkdirSync(dir);
    fs.writeFileSync(join(dir, 'config.json'), JSON.stringify({ profiles: { usb: { src: data, dist: backupDir }, disk2: { src: data, dist: join(root, 'nowhere') } } }));
    const r = runCli(tool, ['list'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--profile NAME \(usb, disk2\)/);
    const ok = runCli(tool, ['--profile', 'usb', 'list'], { cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    const gone = runCli(tool, ['--profile', 'disk2', 'list'], { cwd: dir });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /does not exist: is its drive attached/);
  });
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe('interactive menu', { skip: hasScript ? false : 'the `script` program (util-linux) is not installed' }, () => {
  it('search → pick a path → pick an older version → restore it', () => {
    const target = join(root, 'interactive');
    const input = ['1', '*.py', '1', '2', target, 'q', ''].join('\n');
    const r = spawnSync('script', ['-qfec', `${process.execPath} ${tool} ${backupDir}`, '/dev/null'], { input, encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1\)\s+Projects\/app\/main\.py\s+2 versions/);
    assert.match(r.stdout, /restored 1 entry/);
    assert.equal(fs.readFileSync(join(target, 'Projects/app/main.py'), 'utf8'), 'print(1)\n');
    assert.match(r.stdout, /bye/);
  });

  it('quits at the end of input', () => {
    const r = spawnSync('script', ['-qfec', `${process.execPath} ${tool} ${backupDir}`, '/dev/null'], { input: '5\n', encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(ids[1] as string));
  });
});
