import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { profileFor, readTree, removeDir, sha256File, tempDir, type TreeItem } from '../helpers/tree.js';
import { tool } from '../helpers/tool.js';
import { WRITE_CHUNK } from '../../src/cli/tool/output.js';


let root = '';
let src = '';
let dist = '';
const ids: string[] = [];
const snapshots: Map<string, TreeItem>[] = [];
const BASE = Date.UTC(2026, 1, 1) / 1000;

function put(rel: string, content: string, t: number): void {
  const p = join(src, rel);
  fs.mkdirSync(join(p, '..'), { recursive: true });
  fs.writeFileSync(p, content);
  fs.utimesSync(p, BASE + t, BASE + t);
}

before(async () => {
  root = tempDir('hb-restore-');
  src = join(root, 'src');
  dist = join(root, 'dist');
  const profile = profileFor(src, dist, { rules: { track_dirs: ['Projects'] } });
  const steps = [
    () => {
      put('Projects/a.txt', 'a1', 1);
      put('Projects/doc.md', 'doc', 1);
      put('Projects/deep/x.txt', 'x', 1);
      put('Notes/n.txt', 'n1', 1);
    },
    () => {
      put('Projects/a.txt', 'a2 two', 2);
      put('Projects/gone.txt', 'soon gone', 2);
    },
    () => {
      fs.rmSync(join(src, 'Projects/gone.txt'));
      put('Projects/a.txt', 'a3 three', 3);
      fs.chmodSync(join(src, 'Projects/a.txt'), 0o600);
    },
    () => {
      put('Projects/a.txt', 'a4 four!!', 4);
    },
  ];
  for (const [i, apply] of steps.entries()) {
    apply();
    const out = await runBackup(profile, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date((BASE + i * 3600) * 1000) });
    ids.push(out.id as string);
    snapshots.push(readTree(src));
  }
});
after(() => removeDir(root));

const read = (p: string) => fs.readFileSync(p, 'utf8');

describe('restore', () => {
  it('brings back a deleted file, its last version, by default', async () => {
    const r = await tool([dist, 'restore', 'Projects/gone.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`deleted in ${ids[2]}`));
    assert.equal(read(join(src, 'Projects/gone.txt')), 'soon gone');
    assert.equal(Math.floor(fs.statSync(join(src, 'Projects/gone.txt')).mtimeMs), (BASE + 2) * 1000);
    fs.rmSync(join(src, 'Projects/gone.txt'));
  });

  it('refuses to overwrite a file with other content without --force, listing the conflict and writing nothing', async () => {
    const before = fs.statSync(join(src, 'Projects/a.txt'));
    const r = await tool([dist, 'restore', 'Projects', '--at', ids[0] as string]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Projects\/a\.txt: a file with different content exists/);
    assert.match(r.stderr, /nothing was written/);
    assert.equal(read(join(src, 'Projects/a.txt')), 'a4 four!!');
    assert.equal(fs.statSync(join(src, 'Projects/a.txt')).ino, before.ino);
  });

  it('overwrites it with --force, with the recorded mode and mtime', async () => {
    const r = await tool([dist, 'restore', 'Projects/a.txt', '--at', ids[2] as string, '--force']);
    assert.equal(r.code, 0, r.stderr);
    const want = snapshots[2]?.get('Projects/a.txt') as TreeItem;
    const got = readTree(join(src, 'Projects')).get('a.txt') as TreeItem;
    assert.deepEqual([got.sha256, got.mode, got.mtimeMs], [want.sha256, want.mode, want.mtimeMs]);
    assert.equal((await tool([dist, 'restore', 'Projects/a.txt', '--force'])).code, 0);
    assert.equal(read(join(src, 'Projects/a.txt')), 'a4 four!!');
  });

  it('leaves an identical file alone', async () => {
    const ino = fs.statSync(join(src, 'Projects/a.txt')).ino;
    const r = await tool([dist, 'restore', 'Projects/a.txt', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as { writes: unknown[] }).writes, [{ path: 'Projects/a.txt', type: 'file', action: 'identical' }]);
    assert.equal(fs.statSync(join(src, 'Projects/a.txt')).ino, ino);
  });

  it('puts PATH at DIR/PATH with --to, relative to the current folder', async () => {
    const r = await tool([dist, 'restore', 'Projects/deep', '--to', 'out-to'], { cwd: root });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(read(join(root, 'out-to/Projects/deep/x.txt')), 'x');
  });

  it('treats a folder where a file must go as a conflict even with --force, and writes nothing', async () => {
    const t = join(root, 't-dir');
    fs.mkdirSync(join(t, 'Projects/a.txt'), { recursive: true });
    const r = await tool([dist, 'restore', 'Projects', '--to', t, '--force']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Projects\/a\.txt: a folder is where the file must go/);
    assert.equal(fs.existsSync(join(t, 'Projects/doc.md')), false);
  });

  it('never writes through a symlink in the target, even with --force', async () => {
    const outside = join(root, 'outside');
    fs.mkdirSync(outside);
    const t = join(root, 't-link');
    fs.mkdirSync(t);
    fs.symlinkSync(outside, join(t, 'Projects'));
    const r = await tool([dist, 'restore', 'Projects/a.txt', 'Projects/deep', '--to', t, '--force']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Projects: a symlink in the target; refusing to write through it/);
    assert.deepEqual(fs.readdirSync(outside), []);
  });

  it('replaces a symlink at the final path itself (with --force), never its target', async () => {
    const victim = join(root, 'victim.txt');
    fs.writeFileSync(victim, 'precious');
    const t = join(root, 't-final');
    fs.mkdirSync(join(t, 'Projects'), { recursive: true });
    fs.symlinkSync(victim, join(t, 'Projects/a.txt'));
    assert.equal((await tool([dist, 'restore', 'Projects/a.txt', '--to', t])).code, 1);
    const r = await tool([dist, 'restore', 'Projects/a.txt', '--to', t, '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(read(victim), 'precious');
    assert.equal(fs.lstatSync(join(t, 'Projects/a.txt')).isFile(), true);
  });

  it('writes nothing with --dry-run and lists what it would write', async () => {
    const t = join(root, 't-dry');
    const r = await tool([dist, 'restore', 'Projects', '--at', ids[0] as string, '--to', t, '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would create\s+file\s+Projects\/a\.txt/);
    assert.equal(fs.existsSync(t), false);
  });

  it('reports a path that did not exist at WHEN (exit 1, nothing written)', async () => {
    const r = await tool([dist, 'restore', 'Projects/gone.txt', '--at', ids[0] as string]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Projects\/gone\.txt did not exist at .*its versions: deleted in/);
    const r2 = await tool([dist, 'restore', 'Nowhere/x']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /no version of it is in this backup/);
  });

  it('refuses paths that leave the source (exit 2)', async () => {
    for (const bad of ['../etc/passwd', 'Projects/../../x', '/etc/passwd']) {
      const r = await tool([dist, 'restore', bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    }
    const abs = await tool([dist, 'restore', join(src, 'Projects/doc.md')]);
    assert.equal(abs.code, 0, abs.stderr);
  });

  /** The target's entries outside our leftovers (`.hb-restore-*`, not entered), and the leftovers. */
  const splitTarget = (t: string) => {
    const isTmp = (r: string) => (r.split('/').pop() ?? '').startsWith('.hb-restore-');
    const tree = readTree(t, { skip: isTmp });
    const leftovers: string[] = [];
    const walk = (rel: string) => {
      for (const n of fs.readdirSync(join(t, rel))) {
        const r = rel === '' ? n : `${rel}/${n}`;
        if (isTmp(r)) leftovers.push(r);
        else if (fs.lstatSync(join(t, r)).isDirectory()) walk(r);
      }
    };
    walk('');
    return { tree, leftovers };
  };

  it('in place: leaves no half-written file when stopped, and a second run completes the job', async () => {
    const t = join(root, 't-killed');
    // A target that holds something already: each file goes to a temp file beside it, then renamed.
    fs.mkdirSync(t);
    fs.writeFileSync(join(t, 'mine.txt'), 'not from the backup');
    // The second rename fails as if the process died there; the temp files stay as after a kill.
    let renames = 0;
    const dying = faultyFs({
      renameSync: (p) => String(p).includes('.hb-restore-') && ++renames === 2 && 'EIO',
      unlinkSync: (p) => String(p).includes('.hb-restore-') && 'EIO',
    });
    const first = await tool([dist, 'recreate', '--at', ids[1] as string, '--to', t], { fs: dying });
    assert.equal(first.code, 1);
    const want = snapshots[1] as Map<string, TreeItem>;
    const { tree, leftovers } = splitTarget(t);
    for (const [p, v] of tree) {
      if (p === 'mine.txt') continue;
      const w = want.get(p);
      assert.ok(w !== undefined, `${p} is not part of the state`);
      if (v.type === 'file') assert.equal(v.sha256, w.sha256, `${p} is complete`);
    }
    assert.equal(leftovers.length, 1, 'the interrupted temp file is there');
    assert.ok(!fs.lstatSync(join(t, leftovers[0] as string)).isDirectory(), 'a temp file, not a staging folder');
    const second = await tool([dist, 'recreate', '--at', ids[1] as string, '--to', t]);
    assert.equal(second.code, 0, second.stderr);
    const got = readTree(t);
    assert.deepEqual([...got.keys()].sort(), [...want.keys(), 'mine.txt'].sort());
    for (const [p, v] of got) if (v.type === 'file' && p !== 'mine.txt') assert.equal(v.sha256, want.get(p)?.sha256, p);
  });

  it('into a new folder: stopped, it leaves complete top-level entries and one staging folder; a second run completes the job', async () => {
    const want = snapshots[1] as Map<string, TreeItem>;
    for (const failAt of [1, 2]) {
      const t = join(root, `t-staged-${failAt}`);
      // The failAt-th move from the staging folder into place fails as if the process died there.
      let renames = 0;
      const dying = faultyFs({ renameSync: (p) => String(p).includes('.hb-restore-') && ++renames === failAt && 'EIO' });
      const first = await tool([dist, 'recreate', '--at', ids[1] as string, '--to', t], { fs: dying });
      assert.equal(first.code, 1);
      assert.match(first.stderr, /run it again/);
      const { tree, leftovers } = splitTarget(t);
      assert.deepEqual(leftovers.length, 1, 'the staging folder is left');
      assert.ok(fs.lstatSync(join(t, leftovers[0] as string)).isDirectory());
      assert.equal([...tree.keys()].filter((p) => !p.includes('/')).length, failAt - 1, 'the entries moved before the stop');
      for (const [p, v] of tree) {
        const w = want.get(p);
        assert.ok(w !== undefined, `${p} is not part of the state`);
        if (v.type === 'file') assert.equal(v.sha256, w.sha256, `${p} is complete`);
      }
      const second = await tool([dist, 'recreate', '--at', ids[1] as string, '--to', t]);
      assert.equal(second.code, 0, second.stderr);
      const got = readTree(t);
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'no leftover, nothing missing');
      for (const [p, v] of got) {
        const w = want.get(p) as TreeItem;
        assert.equal(v.type, w.type, p);
        assert.equal(v.mode, w.mode, p);
        if (v.type === 'file') {
          assert.equal(v.sha256, w.sha256, p);
          assert.equal(v.mtimeMs, w.mtimeMs, p);
        }
      }
    }
  });

  it('into a new folder and in place alike: the same tree, modes and times', async () => {
    const staged = join(root, 't-fresh');
    const inPlace = join(root, 't-in-place');
    for (const at of ids) {
      fs.mkdirSync(inPlace);
      fs.writeFileSync(join(inPlace, 'mine.txt'), 'x');
      const a = await tool([dist, 'recreate', '--at', at, '--to', staged, '--json']);
      const b = await tool([dist, 'recreate', '--at', at, '--to', inPlace, '--json']);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      const ta = readTree(staged);
      const tb = readTree(inPlace);
      tb.delete('mine.txt');
      const view = (m: Map<string, TreeItem>) => [...m].map(([p, v]) => [p, v.type, v.mode, v.size, v.sha256, v.target, v.type === 'dir' ? 0 : v.mtimeMs]);
      assert.deepEqual(view(ta), view(tb), at);
      const total = (o: string) => {
        const s = (JSON.parse(o) as { summary: { written: number; identical: number } }).summary;
        return s.written + s.identical;
      };
      assert.equal(total(a.stdout), total(b.stdout));
      removeDir(staged);
      removeDir(inPlace);
    }
  });

  it('recreate of the latest state: from the manifest when it reads cleanly, from the records when an entry is damaged', async () => {
    const clean = join(root, 't-latest-clean');
    const r = await tool([dist, 'recreate', '--to', clean, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const latest = snapshots[snapshots.length - 1] as Map<string, TreeItem>;
    const view = (m: Map<string, TreeItem>) => [...m].filter(([, v]) => v.type === 'file').map(([p, v]) => [p, v.sha256, v.mode, v.mtimeMs]);
    assert.deepEqual(view(readTree(clean)), view(latest));
    removeDir(clean);

    const copy = join(root, 'dist-damaged');
    fs.cpSync(dist, copy, { recursive: true, verbatimSymlinks: true });
    try {
      const manifest = join(copy, '.hardback', 'manifest.jsonl');
      const lines = fs.readFileSync(manifest, 'latin1').split('\n');
      const i = lines.findIndex((l) => l.startsWith('"Projects/a.txt"'));
      lines[i] = (lines[i] as string).replace(/\t[0-9a-f]{64}\t/, '\tdamaged\t');
      fs.writeFileSync(manifest, lines.join('\n'), 'latin1');
      const t = join(root, 't-latest-damaged');
      const d = await tool([copy, 'recreate', '--to', t]);
      assert.equal(d.code, 1, 'a metadata problem');
      assert.match(d.stderr, /Projects\/a\.txt.*damaged/);
      // The damaged entry's file still comes back: the state was computed from the increments' records.
      assert.deepEqual(view(readTree(t)), view(latest));
      removeDir(t);
    } finally {
      removeDir(copy);
    }
  });

  it('refuses a stored copy that does not match its sha256 (exit 1), and restores the rest', async () => {
    const stored = join(dist, 'increments', ids[1] as string, 'files', 'Projects/gone.txt');
    const saved = fs.readFileSync(stored);
    fs.writeFileSync(stored, 'soon GONE');
    try {
      const t = join(root, 't-damaged');
      const r = await tool([dist, 'restore', 'Projects', '--at', ids[1] as string, '--to', t]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /does not match its recorded sha256/);
      assert.equal(fs.existsSync(join(t, 'Projects/gone.txt')), false);
      assert.equal(read(join(t, 'Projects/doc.md')), 'doc');
    } finally {
      fs.writeFileSync(stored, saved);
    }
  });
});

describe('history', () => {
  it('lists exactly the versions made, newest first', async () => {
    const r = await tool([dist, 'history', 'Projects/a.txt', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { versions: { increment: string; status: string; sha256: string; size: number; mode: number }[] };
    const want = [3, 2, 1, 0].map((i) => snapshots[i]?.get('Projects/a.txt') as TreeItem);
    assert.deepEqual(
      doc.versions.map((v) => [v.increment, v.status, v.sha256, v.size]),
      want.map((w, k) => [ids[3 - k], k === 3 ? 'new' : 'changed', w.sha256, w.size]),
    );
    const gone = JSON.parse((await tool([dist, 'history', 'Projects/gone.txt', '--json'])).stdout) as { in_mirror: boolean; versions: { status: string; content: string }[] };
    assert.equal(gone.in_mirror, false);
    assert.deepEqual(gone.versions.map((v) => `${v.status}:${v.content}`), ['deleted:increment', 'new:increment']);
  });

  it('shows an untracked file’s older versions as not recoverable', async () => {
    const r = await tool([dist, 'history', 'Notes/n.txt']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /new\s.*mirror/);
    assert.equal(sha256File(join(src, 'Notes/n.txt')).length, 64);
  });
});

/** An independent matcher for `*`, `?` and `**` (the syntax the test masks use). */
function brute(mask: string, path: string): boolean {
  const subject = mask.includes('/') ? path : (path.split('/').pop() as string);
  const m = (p: string, s: string): boolean => {
    if (p === '') return s === '';
    if (p.startsWith('**/')) return m(p.slice(3), s) || (s.includes('/') && m(p, s.slice(s.indexOf('/') + 1)));
    if (p === '**') return s !== '';
    if (p[0] === '*') return m(p.slice(1), s) || (s !== '' && s[0] !== '/' && m(p, s.slice(1)));
    if (p[0] === '?') return s !== '' && s[0] !== '/' && m(p.slice(1), s.slice(1));
    return s[0] === p[0] && m(p.slice(1), s.slice(1));
  };
  return m(mask, subject);
}

describe('search', () => {
  let sroot = '';
  let sdist = '';
  const NAMES = ['a.py', 'b.PY', 'x/a.py', 'x/y/c.md', 'x/y/z/d.pdf', 'notes.md.bak', 'q1.md', 'q22.md', 'x/q3.md', 'deep/er/a.py', 'x/y/report.pdf', 'readme'];
  before(async () => {
    sroot = tempDir('hb-search-');
    const s = join(sroot, 'src');
    for (const n of NAMES) {
      fs.mkdirSync(join(s, n, '..'), { recursive: true });
      fs.writeFileSync(join(s, n), n);
    }
    sdist = join(sroot, 'dist');
    const p = profileFor(s, sdist);
    await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1)) });
    for (const n of ['x/a.py', 'q22.md', 'x/y/z/d.pdf']) fs.rmSync(join(s, n));
    await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 2)) });
  });
  after(() => removeDir(sroot));

  const MASK_SETS = [['*.py'], ['*.py', '*.pdf', '*.md'], ['q?.md'], ['x/**'], ['**/a.py'], ['x/*/*.pdf'], ['*'], ['*.md*'], ['x/y/**/*.pdf']];
  for (const masks of MASK_SETS) {
    it(`matches ${masks.join(' ')} as a brute-force filter does`, async () => {
      const r = await tool([sdist, 'search', ...masks.flatMap((m) => ['--mask', m]), '--json']);
      assert.equal(r.code, 0, r.stderr);
      const got = (JSON.parse(r.stdout) as { results: { path: string }[] }).results.map((x) => x.path);
      const all = new Set<string>();
      for (const n of NAMES) {
        all.add(n);
        for (let i = n.indexOf('/'); i > 0; i = n.indexOf('/', i + 1)) all.add(n.slice(0, i));
      }
      const want = [...all].filter((p) => masks.some((m) => brute(m, p))).sort();
      assert.deepEqual(got, want);
    });
  }

  it('prints its text in one write, the same paths and versions as --json lists', async () => {
    const masks = ['--mask', '*.md', '--mask', '*.py', '--mask', '*.pdf'];
    const text = await tool([sdist, 'search', ...masks]);
    const json = await tool([sdist, 'search', ...masks, '--json']);
    assert.equal(text.code, 0, text.stderr);
    const results = (JSON.parse(json.stdout) as { results: { path: string; in_mirror: boolean; versions: unknown[] }[] }).results;
    const lines = text.stdout.split('\n');
    assert.equal(lines.at(-1), '', 'ends with a newline');
    assert.equal(lines.at(-2), `${results.length} paths found`);
    // Each path on a line of its own, then one indented line per version.
    const paths = lines.filter((l) => l !== '' && !l.startsWith(' ') && !l.endsWith(' found'));
    assert.deepEqual(paths, results.map((r) => `${r.path}${r.in_mirror ? '' : '  (deleted: not in the mirror)'}`));
    assert.equal(lines.filter((l) => l.startsWith(' ')).length, results.reduce((n, r) => n + r.versions.length, 0));
    // Gathered into writes of WRITE_CHUNK characters (each a write(2) where stdout is a file), not one per path.
    const most = Math.floor(text.stdout.length / WRITE_CHUNK) + 1;
    assert.ok(text.stdoutWrites <= most, `${results.length} paths (${text.stdout.length} characters), ${text.stdoutWrites} writes, at most ${most}`);
  });

  it('counts in its last line the paths it printed: none, one, and with --deleted', async () => {
    const none = await tool([sdist, 'search', '--mask', 'no-such-name-*']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, '0 paths found\n');
    // q22.md: deleted by the second run, found in the first increment.
    const one = await tool([sdist, 'search', '--mask', 'q22.md']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^q22\.md {2}\(deleted: not in the mirror\)\n/);
    assert.equal(one.stdout.split('\n').at(-2), '1 path found');
    const masks = ['--mask', '*.md', '--mask', '*.pdf', '--mask', '*.py', '--deleted'];
    const text = await tool([sdist, 'search', ...masks]);
    const json = await tool([sdist, 'search', ...masks, '--json']);
    const results = (JSON.parse(json.stdout) as { results: { path: string }[] }).results;
    assert.ok(results.length > 1, 'several deleted paths');
    const lines = text.stdout.split('\n');
    assert.equal(lines.at(-2), `${results.length} paths found`);
    assert.deepEqual(lines.filter((l) => l !== '' && !l.startsWith(' ') && !l.endsWith(' found')), results.map((r) => `${r.path}  (deleted: not in the mirror)`));
  });

  it('--deleted keeps only the paths no longer in the mirror, with their versions', async () => {
    const r = await tool([sdist, 'search', '--mask', '*.md', '--mask', '*.pdf', '--mask', '*.py', '--deleted', '--json']);
    const results = (JSON.parse(r.stdout) as { results: { path: string; in_mirror: boolean; versions: { status: string }[] }[] }).results;
    assert.deepEqual(results.map((x) => x.path), ['q22.md', 'x/a.py', 'x/y/z/d.pdf']);
    for (const x of results) assert.deepEqual(x.versions.map((v) => v.status), ['deleted', 'new']);
  });

  it('--since and --until keep the versions recorded in that range', async () => {
    const r = await tool([sdist, 'search', '--mask', '*.md', '--since', '2026-01-02T00:00:00Z', '--json']);
    const results = (JSON.parse(r.stdout) as { results: { path: string; versions: { status: string }[] }[] }).results;
    assert.deepEqual(results.map((x) => [x.path, x.versions.map((v) => v.status)]), [['q22.md', ['deleted']]]);
    const u = await tool([sdist, 'search', '--mask', 'q22.md', '--until', '2026-01-01T00:00:00Z', '--json']);
    assert.deepEqual((JSON.parse(u.stdout) as { results: { versions: { status: string }[] }[] }).results.map((x) => x.versions.map((v) => v.status)), [['new']]);
  });
});
