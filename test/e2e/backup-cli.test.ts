/**
 * The built `backup` program, end to end: copied ALONE (backup.js, backup-tool.js) into a temp folder
 * with a config.json beside it, as on a USB stick, and run there with plain node (SPEC §1, §3, §5).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, REPO, TOOL_JS, isRootUser, makeTree, tempDir, type TreeSpec } from '../helpers/tree.js';
import { forceRemove, incrementIds, readIncrement } from '../helpers/model-dist.js';

const cleanup: string[] = [];
before(() => {
  if (!fs.existsSync(BACKUP_JS) || !fs.existsSync(TOOL_JS)) {
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, `build failed: ${r.stderr}`);
  }
});
after(() => {
  for (const d of cleanup) forceRemove(d);
});

const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Stick {
  root: string;
  /** Where the programs and config.json live. */
  dir: string;
  /** A folder without any config.json, used as the working directory. */
  elsewhere: string;
  run(args?: string[], opts?: { asNobody?: boolean }): { code: number | null; stdout: string; stderr: string };
}

/** A "USB stick": the two built files alone, a config.json beside them, the data folder. */
function stick(config: unknown, data: TreeSpec = { 'a.txt': 'alpha', 'd/b.txt': 'beta' }): Stick {
  const root = tempDir('hb-e2e-');
  cleanup.push(root);
  const dir = join(root, 'stick');
  const elsewhere = join(root, 'elsewhere');
  fs.mkdirSync(dir);
  fs.mkdirSync(elsewhere);
  fs.copyFileSync(BACKUP_JS, join(dir, 'backup.js'));
  fs.copyFileSync(TOOL_JS, join(dir, 'backup-tool.js'));
  fs.writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  makeTree(join(dir, 'data'), data);
  return {
    root,
    dir,
    elsewhere,
    run(args = [], opts = {}) {
      const argv = [join(dir, 'backup.js'), ...args];
      const [cmd, full] = opts.asNobody ? ['runuser', ['-u', 'nobody', '--', process.execPath, ...argv]] : [process.execPath, argv];
      const r = spawnSync(cmd as string, full as string[], {
        cwd: elsewhere,
        env: { ...process.env, NO_COLOR: '1' },
        input: '',
        encoding: 'utf8',
        timeout: 60_000,
      });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

const BASIC = { src: 'data', dist: 'Backups' };

describe('backup, run from a copied folder', () => {
  it('finds config.json beside the program; src and dist are relative to it; exit 0', () => {
    const s = stick(BASIC);
    assert.deepEqual(fs.readdirSync(s.dir).sort(), ['backup-tool.js', 'backup.js', 'config.json', 'data']);
    const r = s.run();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(join(s.dir, 'Backups', 'mirror', 'a.txt'), 'utf8'), 'alpha');
    assert.equal(fs.readFileSync(join(s.dir, 'Backups', 'mirror', 'd', 'b.txt'), 'utf8'), 'beta');
    assert.equal(incrementIds(join(s.dir, 'Backups')).length, 1);
    assert.match(r.stdout, /increment \S+Z: 3 new, 0 changed, 0 deleted, 0 errors/);
    // Nothing was written where it was run from.
    assert.deepEqual(fs.readdirSync(s.elsewhere), []);
  });

  it('a new dist gets mode 0700', () => {
    const s = stick(BASIC);
    assert.equal(s.run().code, 0);
    assert.equal(fs.statSync(join(s.dir, 'Backups')).mode & 0o777, 0o700);
  });

  it('a second run with no change says so and creates no increment', () => {
    const s = stick(BASIC);
    assert.equal(s.run().code, 0);
    const r = s.run();
    assert.equal(r.code, 0);
    assert.match(r.stdout, /no changes: no increment created/);
    assert.equal(incrementIds(join(s.dir, 'Backups')).length, 1);
  });
});

describe('exit codes', () => {
  it('2: an unknown flag; nothing created', () => {
    const s = stick(BASIC);
    const r = s.run(['--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--bogus/);
    assert.equal(r.stdout, '');
    assert.equal(fs.existsSync(join(s.dir, 'Backups')), false);
  });

  it('2: a misspelt config key, with "did you mean" and the file named; nothing created', () => {
    const s = stick({ ...BASIC, exclude_dir: ['Temp'] });
    const r = s.run();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exclude_dir\b/);
    assert.match(r.stderr, /did you mean/i);
    assert.match(r.stderr, /exclude_dirs/);
    assert.match(r.stderr, /config\.json/);
    assert.equal(fs.existsSync(join(s.dir, 'Backups')), false);
  });

  it('2: a config that is not JSON; nothing created', () => {
    const s = stick('{ "src": "data", "dist": "Backups", }x');
    const r = s.run();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /config\.json/);
    assert.equal(fs.existsSync(join(s.dir, 'Backups')), false);
  });

  it('1: a missing src folder, named in the message; nothing created', () => {
    const s = stick({ src: 'not-there', dist: 'Backups' });
    const r = s.run();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not-there/);
    assert.equal(fs.existsSync(join(s.dir, 'Backups')), false);
  });

  it('3: an unreadable file is listed, the rest is backed up', (t) => {
    // root reads everything: as root, the program runs as nobody (who owns the stick but cannot read secret.txt).
    const asNobody = isRootUser();
    if (asNobody && spawnSync('runuser', ['--help']).status !== 0) {
      t.skip('running as root without runuser: no way to make a file unreadable');
      return;
    }
    const s = stick(BASIC, { 'ok.txt': 'fine', 'secret.txt': 'hidden', 'd/x.txt': 'x' });
    fs.chmodSync(join(s.dir, 'data', 'secret.txt'), 0o000);
    if (asNobody) assert.equal(spawnSync('chown', ['-R', '65534:65534', s.root]).status, 0);
    const r = s.run([], { asNobody });
    assert.equal(r.code, 3, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stderr, /secret\.txt/);
    const dist = join(s.dir, 'Backups');
    const ids = incrementIds(dist);
    assert.equal(ids.length, 1);
    const inc = readIncrement(dist, ids[0] as string);
    assert.deepEqual(
      inc.errors.map((e) => [e.path, e.code]),
      [['secret.txt', 'EACCES']],
    );
    assert.equal(fs.readFileSync(join(dist, 'mirror', 'ok.txt'), 'utf8'), 'fine');
    assert.equal(fs.existsSync(join(dist, 'mirror', 'secret.txt')), false);
  });
});

describe('output modes', () => {
  it('--json: one parseable document with the summary and the increment id', () => {
    const s = stick(BASIC);
    const r = s.run(['--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { exit: number; profiles: { profile: string; status: string; increment: string | null; summary: Record<string, number> }[] };
    assert.equal(doc.exit, 0);
    assert.equal(doc.profiles.length, 1);
    const p = doc.profiles[0];
    assert.equal(p?.profile, 'default');
    assert.equal(p?.status, 'done');
    assert.deepEqual(incrementIds(join(s.dir, 'Backups')), [p?.increment]);
    assert.deepEqual(p?.summary, { new: 3, changed: 0, deleted: 0, errors: 0, bytes_copied: 9 });

    const again = JSON.parse(s.run(['--json']).stdout) as typeof doc;
    assert.equal(again.profiles[0]?.status, 'no-change');
    assert.equal(again.profiles[0]?.increment, null);
  });

  it('--quiet prints nothing on success', () => {
    const s = stick(BASIC);
    const r = s.run(['--quiet']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    assert.equal(incrementIds(join(s.dir, 'Backups')).length, 1);
  });

  it('--verbose lists each action', () => {
    const s = stick(BASIC);
    const first = s.run(['--verbose']);
    assert.equal(first.code, 0);
    const out1 = first.stdout + first.stderr;
    for (const p of ['a.txt', 'd', 'd/b.txt']) assert.match(out1, new RegExp(`new\\s+${p.replace('.', '\\.')}\\s*$`, 'm'), `new ${p}`);
    fs.writeFileSync(join(s.dir, 'data', 'a.txt'), 'alpha 2');
    fs.rmSync(join(s.dir, 'data', 'd', 'b.txt'));
    const second = s.run(['--verbose']);
    const out2 = second.stdout + second.stderr;
    assert.match(out2, /changed\s+a\.txt\s*$/m);
    assert.match(out2, /deleted\s+d\/b\.txt\s*$/m);
    assert.doesNotMatch(out2, /new\s+a\.txt/);
  });

  it('without --verbose, actions are not listed', () => {
    const s = stick(BASIC);
    const r = s.run();
    assert.doesNotMatch(r.stdout + r.stderr, /new\s+d\/b\.txt/);
  });

  it('--dry-run prints the plan and creates nothing', () => {
    const s = stick(BASIC);
    const r = s.run(['--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would add\s+a\.txt/);
    assert.match(r.stdout, /nothing was written/);
    assert.equal(fs.existsSync(join(s.dir, 'Backups')), false);
  });

  it('--help mentions every exit code', () => {
    const s = stick(BASIC);
    const r = s.run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Exit codes/i);
    for (const code of ['0', '1', '2', '3']) assert.match(r.stdout, new RegExp(`^\\s*${code}\\s+\\S`, 'm'), `exit code ${code}`);
    assert.match(r.stdout, /--profile/);
    assert.match(r.stdout, /--dry-run/);
    assert.equal(fs.existsSync(join(s.dir, 'Backups')), false);
  });

  it('--version prints the package version', () => {
    const s = stick(BASIC);
    const r = s.run(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), `hardback ${PACKAGE_VERSION}`);
  });
});

describe('profiles', () => {
  const config = {
    src: 'data',
    profiles: {
      first: { dist: 'A' },
      unplugged: { dist: 'not-mounted/B' },
      third: { dist: 'C', include_dirs: ['d'] },
    },
  };
  type Doc = { exit: number; profiles: { profile: string; status: string; increment?: string | null }[] };

  it('all profiles run; one whose dist parent is missing is skipped with a notice (exit 0), its parent never created', () => {
    const s = stick(config);
    const r = s.run();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /unplugged/);
    assert.match(r.stderr, /not attached/);
    assert.equal(fs.existsSync(join(s.dir, 'not-mounted')), false);
    assert.equal(fs.readFileSync(join(s.dir, 'A', 'mirror', 'a.txt'), 'utf8'), 'alpha');
    assert.equal(fs.existsSync(join(s.dir, 'C', 'mirror', 'a.txt')), false);
    assert.equal(fs.readFileSync(join(s.dir, 'C', 'mirror', 'd', 'b.txt'), 'utf8'), 'beta');

    const json = JSON.parse(s.run(['--json']).stdout) as Doc;
    assert.deepEqual(
      json.profiles.map((p) => [p.profile, p.status]),
      [
        ['first', 'no-change'],
        ['unplugged', 'skipped'],
        ['third', 'no-change'],
      ],
    );
  });

  it('naming the unplugged profile is an error (exit 1); its parent is never created', () => {
    const s = stick(config);
    const r = s.run(['--profile', 'unplugged']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unplugged/);
    assert.match(r.stderr, /not attached/);
    assert.equal(fs.existsSync(join(s.dir, 'not-mounted')), false);
    assert.equal(fs.existsSync(join(s.dir, 'A')), false);
  });

  it('--profile is repeatable and picks only those profiles', () => {
    const s = stick(config);
    const r = s.run(['--profile', 'third', '--profile', 'first', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as Doc;
    assert.deepEqual(doc.profiles.map((p) => [p.profile, p.status]).sort(), [
      ['first', 'done'],
      ['third', 'done'],
    ]);
    assert.equal(incrementIds(join(s.dir, 'A')).length, 1);
    assert.equal(incrementIds(join(s.dir, 'C')).length, 1);
    assert.equal(fs.existsSync(join(s.dir, 'not-mounted')), false);

    const one = s.run(['--profile', 'first', '--json']);
    assert.deepEqual((JSON.parse(one.stdout) as Doc).profiles.map((p) => p.profile), ['first']);
  });

  it('an unknown profile name is a usage error (exit 2), nothing created', () => {
    const s = stick(config);
    const r = s.run(['--profile', 'frist']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /frist/);
    assert.match(r.stderr, /first/);
    assert.equal(fs.existsSync(join(s.dir, 'A')), false);
  });
});

describe('without root: read-only folders', () => {
  /** Runs the stick's program as nobody when root (who owns the stick then); as the current user otherwise. */
  function nonRootStick(data: TreeSpec): { s: Stick; asNobody: boolean; own: (p: string) => void } | undefined {
    const asNobody = isRootUser();
    if (asNobody && spawnSync('runuser', ['--help']).status !== 0) return undefined;
    const s = stick(BASIC, data);
    const own = (p: string) => {
      if (asNobody) assert.equal(spawnSync('chown', ['-hR', '65534:65534', p]).status, 0);
    };
    own(s.root);
    return { s, asNobody, own };
  }

  it('a 0555 folder replaced by a file: no error, the mirror follows', (t) => {
    const made = nonRootStick({ 'ro/sub/f.txt': 'f', 'ro/g.txt': 'g', 'other.txt': 'o' });
    if (made === undefined) {
      t.skip('running as root without runuser: cannot run as another user');
      return;
    }
    const { s, asNobody, own } = made;
    const data = join(s.dir, 'data');
    fs.chmodSync(join(data, 'ro', 'sub'), 0o555);
    fs.chmodSync(join(data, 'ro'), 0o555);
    const first = s.run([], { asNobody });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(fs.statSync(join(s.dir, 'Backups', 'mirror', 'ro')).mode & 0o777, 0o555);

    fs.chmodSync(join(data, 'ro'), 0o755);
    fs.chmodSync(join(data, 'ro', 'sub'), 0o755);
    fs.rmSync(join(data, 'ro'), { recursive: true });
    fs.writeFileSync(join(data, 'ro'), 'now a file');
    own(join(data, 'ro'));
    const second = s.run(['--json'], { asNobody });
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const doc = JSON.parse(second.stdout) as { profiles: { errors: unknown[]; summary: { deleted: number; new: number } }[] };
    assert.deepEqual(doc.profiles[0]?.errors, []);
    assert.deepEqual([doc.profiles[0]?.summary.deleted, doc.profiles[0]?.summary.new], [4, 1]);
    assert.equal(fs.readFileSync(join(s.dir, 'Backups', 'mirror', 'ro'), 'utf8'), 'now a file');
  });

  it('a 0555 folder replaced by a symlink: nothing outside the backup is touched', (t) => {
    const made = nonRootStick({ 'ro/f.txt': 'f', 'other.txt': 'o' });
    if (made === undefined) {
      t.skip('running as root without runuser: cannot run as another user');
      return;
    }
    const { s, asNobody, own } = made;
    const data = join(s.dir, 'data');
    const outside = join(s.root, 'outside.txt');
    fs.writeFileSync(outside, 'not part of any backup');
    fs.chmodSync(outside, 0o600);
    fs.utimesSync(outside, 1_600_000_000, 1_600_000_000);
    own(outside);
    fs.chmodSync(join(data, 'ro'), 0o555);
    assert.equal(s.run([], { asNobody }).code, 0);

    fs.chmodSync(join(data, 'ro'), 0o755);
    fs.rmSync(join(data, 'ro'), { recursive: true });
    fs.symlinkSync(outside, join(data, 'ro'));
    own(join(data, 'ro'));
    const r = s.run([], { asNobody });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const st = fs.statSync(outside);
    assert.equal(st.mode & 0o777, 0o600, 'the symlink target outside the backup kept its mode');
    assert.equal(st.mtimeMs, 1_600_000_000_000, 'the symlink target outside the backup kept its mtime');
    assert.equal(fs.readlinkSync(join(s.dir, 'Backups', 'mirror', 'ro')), outside);
  });
});
