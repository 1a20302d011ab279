import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { HardbackError } from '../../src/io/errors.js';
import { closestMatch, editDistance, validateConfig } from '../../src/config/validate.js';
import { resolveProfiles, selectProfiles, type Profile } from '../../src/config/profiles.js';
import { JsonSyntaxError, parseJson } from '../../src/config/json.js';

const FILE = 'config.json';
const base = { src: '/data/src', dist: '/backup/dist' };

/** Runs fn, asserts it throws a config error (exit 2), returns the message. */
function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HardbackError, `expected HardbackError, got ${String(err)}`);
    assert.equal(err.kind, 'config');
    assert.equal(err.exitCode, 2);
    return err.message;
  }
  assert.fail('expected a config error, nothing was thrown');
}

const load = (value: unknown): Profile[] => resolveProfiles(validateConfig(value, FILE), FILE, { home: '/home/me' });

describe('validateConfig rejects bad configs', () => {
  const cases: { name: string; config: unknown; expect: string[] }[] = [
    {
      name: 'typo in a profile key, with suggestion',
      config: { profiles: { usb: { ...base, exlude_dirs: ['Temp'] } } },
      expect: ['config.json: profiles.usb: unknown key "exlude_dirs" (did you mean "exclude_dirs"?)'],
    },
    {
      name: 'typo in a top-level key, with suggestion',
      config: { ...base, max_worker: 4 },
      expect: ['config.json: unknown key "max_worker" (did you mean "max_workers"?)'],
    },
    { name: 'camelCase key', config: { ...base, maxWorkers: 4 }, expect: ['unknown key "maxWorkers" (did you mean "max_workers"?)'] },
    { name: 'dashed key', config: { ...base, 'track-files': [] }, expect: ['(did you mean "track_files"?)'] },
    { name: 'swapped letters', config: { ...base, cehcksum: true }, expect: ['(did you mean "checksum"?)'] },
    { name: '"profile" for "profiles"', config: { ...base, profile: {} }, expect: ['unknown key "profile" (did you mean "profiles"?)'] },
    { name: 'unknown key with nothing close', config: { ...base, compression: 'zstd' }, expect: ['config.json: unknown key "compression"'] },
    { name: 'retention key outside keep', config: { ...base, daily: 7 }, expect: ['unknown key "daily" (did you mean "keep": {"daily": …}?)'] },
    {
      name: 'profile written at the top level',
      config: { ...base, laptop: { src: '/a', dist: '/b' } },
      expect: ['unknown key "laptop" (if it is a profile, put it inside "profiles"'],
    },
    {
      name: 'profiles inside a profile',
      config: { profiles: { usb: { ...base, profiles: {} } } },
      expect: ['config.json: profiles.usb: "profiles" is only allowed at the top level'],
    },
    { name: 'src not a string', config: { src: 42, dist: '/b' }, expect: ['config.json: src: must be a non-empty string', '(got 42)'] },
    { name: 'dist empty', config: { src: '/a', dist: '' }, expect: ['config.json: dist: must be a non-empty string'] },
    { name: 'src with NUL', config: { src: '/a\0b', dist: '/b' }, expect: ['src: must not contain a NUL character'] },
    {
      name: 'list given as a string',
      config: { ...base, include_dirs: 'Projects' },
      expect: ['config.json: include_dirs: must be an array of strings (got "Projects") — write ["Projects"]'],
    },
    { name: 'list element not a string', config: { ...base, exclude_files: ['*.log', 3] }, expect: ['config.json: exclude_files[1]: must be a non-empty string (got 3)'] },
    { name: 'list element empty', config: { ...base, track_dirs: [''] }, expect: ['track_dirs[0]: must be a non-empty string'] },
    { name: 'max_workers a string', config: { ...base, max_workers: '8' }, expect: ['config.json: max_workers: must be an integer from 1 to 256 (got "8")'] },
    { name: 'max_workers zero', config: { ...base, max_workers: 0 }, expect: ['max_workers: must be an integer from 1 to 256 (got 0)'] },
    { name: 'max_workers too big', config: { ...base, max_workers: 257 }, expect: ['max_workers: must be an integer from 1 to 256'] },
    { name: 'max_workers fractional', config: { ...base, max_workers: 2.5 }, expect: ['max_workers: must be an integer'] },
    { name: 'checksum a string', config: { ...base, checksum: 'yes' }, expect: ['config.json: checksum: must be true or false (got "yes")'] },
    { name: 'prune_after_backup a number', config: { ...base, prune_after_backup: 1 }, expect: ['prune_after_backup: must be true or false (got 1)'] },
    { name: 'max_delete_ratio as percent', config: { ...base, max_delete_ratio: 50 }, expect: ['max_delete_ratio: must be a number from 0 to 1 (got 50); it is a fraction: 0.5 means 50%'] },
    { name: 'max_delete_ratio negative', config: { ...base, max_delete_ratio: -0.1 }, expect: ['max_delete_ratio: must be a number from 0 to 1'] },
    { name: 'link_fallback wrong value', config: { ...base, link_fallback: 'Copy' }, expect: ['link_fallback: must be "copy" or "error" (got "Copy")'] },
    { name: 'keep not an object', config: { ...base, keep: 7 }, expect: ['config.json: keep: must be an object'] },
    { name: 'keep negative', config: { ...base, keep: { daily: -1 } }, expect: ['config.json: keep.daily: must be an integer ≥ 0 (got -1)'] },
    { name: 'keep fractional', config: { ...base, keep: { last: 1.5 } }, expect: ['keep.last: must be an integer ≥ 0'] },
    { name: 'keep typo', config: { ...base, keep: { dayly: 7 } }, expect: ['config.json: keep: unknown key "dayly" (did you mean "daily"?)'] },
    { name: 'keep empty', config: { ...base, keep: {} }, expect: ['keep: must set at least one of'] },
    { name: '$schema not a string', config: { ...base, $schema: 1 }, expect: ['config.json: $schema: must be a string'] },
    { name: 'top level an array', config: [base], expect: ['config.json: the top level must be a JSON object'] },
    { name: 'top level null', config: null, expect: ['config.json: the top level must be a JSON object {…} (got null)'] },
    { name: 'profiles an array', config: { profiles: [base] }, expect: ['config.json: profiles: must be an object mapping profile names'] },
    { name: 'profiles empty', config: { profiles: {} }, expect: ['config.json: profiles: must name at least one profile'] },
    { name: 'profile not an object', config: { profiles: { usb: '/media/usb' } }, expect: ['config.json: profiles.usb: must be an object'] },
    { name: 'profile name empty', config: { profiles: { '': base } }, expect: ['config.json: profiles: profile names must not be empty'] },
    { name: 'profile name blank', config: { profiles: { '  ': base } }, expect: ['profile names must not be empty'] },
    { name: 'profile name quoted in key paths', config: { profiles: { 'my usb': { ...base, checksum: 1 } } }, expect: ['config.json: profiles["my usb"].checksum: must be true or false'] },
    { name: 'wrong type inside a profile', config: { profiles: { usb: { ...base, max_workers: 'many' } } }, expect: ['config.json: profiles.usb.max_workers: must be an integer'] },
    { name: 'missing src', config: { dist: '/b' }, expect: ['config.json: missing key "src"'] },
    { name: 'missing dist', config: { src: '/a' }, expect: ['config.json: missing key "dist"'] },
    { name: 'empty object', config: {}, expect: ['missing key "src"', 'missing key "dist"'] },
    {
      name: 'missing dist in one profile after merging defaults',
      config: { src: '/a', profiles: { usb: { dist: '/b' }, disk2: { include_dirs: ['x'] } } },
      expect: ['config.json: profiles.disk2: missing key "dist"'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const message = configErrorOf(() => validateConfig(c.config, FILE));
      for (const fragment of c.expect) assert.ok(message.includes(fragment), `message:\n${message}\nlacks:\n${fragment}`);
    });
  }

  it('reports every problem, one line each', () => {
    const message = configErrorOf(() => validateConfig({ ...base, exlude_dirs: [], max_workers: 0, checksum: 'no' }, FILE));
    const lines = message.split('\n');
    assert.equal(lines.length, 3);
    for (const line of lines) assert.match(line, /^config\.json: /);
  });

  it('does not report a wrongly typed src as missing too', () => {
    const message = configErrorOf(() => validateConfig({ src: 1, dist: '/b' }, FILE));
    assert.equal(message.split('\n').length, 1);
    assert.doesNotMatch(message, /missing/);
  });

  it('names the file as given', () => {
    const message = configErrorOf(() => validateConfig({ src: '/a' }, '/media/usb/my-config.json'));
    assert.match(message, /^\/media\/usb\/my-config\.json: missing key "dist"/);
  });

  it('treats "__proto__" as an unknown key', () => {
    const value = parseJson('{"src": "/a", "dist": "/b", "__proto__": {"checksum": true}}');
    const message = configErrorOf(() => validateConfig(value, FILE));
    assert.match(message, /unknown key "__proto__"/);
  });
});

describe('validateConfig accepts good configs', () => {
  it('merges top-level defaults into profiles; a profile key replaces the default whole', () => {
    const profiles = validateConfig(
      {
        exclude_files: ['*.log', '*.tmp'],
        max_workers: 8,
        keep: { daily: 7, weekly: 4 },
        profiles: {
          usb: { src: '~/Documents', dist: '/media/me/USB/Backups' },
          disk2: { src: '~/Documents', dist: '/mnt/disk2', exclude_files: ['*.iso'], keep: { last: 3 }, max_workers: 2 },
        },
      },
      FILE,
    );
    assert.deepEqual(
      profiles.map((p) => p.name),
      ['usb', 'disk2'],
    );
    const [usb, disk2] = profiles;
    assert.deepEqual(usb?.settings.exclude_files, ['*.log', '*.tmp']);
    assert.equal(usb?.settings.max_workers, 8);
    assert.deepEqual(usb?.settings.keep, { daily: 7, weekly: 4 });
    assert.deepEqual(disk2?.settings.exclude_files, ['*.iso']);
    assert.deepEqual(disk2?.settings.keep, { last: 3 });
    assert.equal(disk2?.settings.max_workers, 2);
    assert.equal(disk2?.context, 'profiles.disk2');
  });

  it('a file without profiles is one profile named "default"', () => {
    const profiles = validateConfig({ ...base, $schema: './config.schema.json' }, FILE);
    assert.equal(profiles.length, 1);
    assert.equal(profiles[0]?.name, 'default');
    assert.equal(profiles[0]?.context, '');
  });

  it('accepts boundary values', () => {
    const [p] = validateConfig(
      { ...base, max_workers: 256, max_delete_ratio: 0, keep: { last: 0, yearly: 10 }, link_fallback: 'error', checksum: true, prune_after_backup: true },
      FILE,
    );
    assert.equal(p?.settings.max_workers, 256);
    assert.equal(p?.settings.max_delete_ratio, 0);
    assert.deepEqual(p?.settings.keep, { last: 0, yearly: 10 });
    assert.equal(validateConfig({ ...base, max_workers: 1, max_delete_ratio: 1 }, FILE)[0]?.settings.max_delete_ratio, 1);
  });
});

describe('resolveProfiles', () => {
  it('refuses src inside dist', () => {
    const message = configErrorOf(() => load({ src: '/backup/dist/data', dist: '/backup/dist' }));
    assert.match(message, /^config\.json: src \(\/backup\/dist\/data\) is inside dist \(\/backup\/dist\)/);
  });

  it('refuses src equal to dist, also when written differently', () => {
    const message = configErrorOf(() => load({ src: '/backup/./dist/', dist: '/backup/dist' }));
    assert.match(message, /src and dist are the same folder \(\/backup\/dist\)/);
  });

  it('names the profile when src is inside dist', () => {
    const message = configErrorOf(() => load({ dist: '~', profiles: { ok: { src: '/data' }, bad: { src: '~/Documents' } } }));
    assert.match(message, /^config\.json: profiles\.bad: src \(\/home\/me\/Documents\) is inside dist \(\/home\/me\)/);
  });

  it('allows dist inside src', () => {
    const [p] = load({ src: '/data', dist: '/data/backup' });
    assert.equal(p?.dist, '/data/backup');
  });

  it('does not mistake a sibling with a common prefix for a parent', () => {
    const [p] = load({ src: '/backup/dist-old', dist: '/backup/dist' });
    assert.equal(p?.src, '/backup/dist-old');
  });

  it('refuses "~name" paths', () => {
    const message = configErrorOf(() => load({ src: '~bob/Documents', dist: '/b' }));
    assert.match(message, /^config\.json: src: "~bob\/Documents": only "~" and "~\/…" are expanded/);
  });

  it('applies defaults and keeps absent rule keys absent', () => {
    const [p] = load({ ...base, track_dirs: [] });
    assert.ok(p !== undefined);
    assert.deepEqual(p.rules, { track_dirs: [] });
    assert.ok(!('track_files' in p.rules));
    assert.equal(p.maxWorkers, 8);
    assert.equal(p.checksum, false);
    assert.equal(p.maxDeleteRatio, 0.5);
    assert.equal(p.linkFallback, 'copy');
    assert.equal(p.keep, undefined);
    assert.equal(p.pruneAfterBackup, false);
    assert.equal(p.configFile, path.resolve(FILE));
  });
});

describe('selectProfiles', () => {
  const profiles = load({ src: '/data', profiles: { usb: { dist: '/media/usb' }, disk2: { dist: '/mnt/disk2' }, nas: { dist: '/mnt/nas' } } });

  it('returns all profiles in file order when no name is given', () => {
    assert.deepEqual(
      selectProfiles(profiles, []).map((p) => p.name),
      ['usb', 'disk2', 'nas'],
    );
  });

  it('returns the named profiles in the order named, each once', () => {
    assert.deepEqual(
      selectProfiles(profiles, ['nas', 'usb', 'nas']).map((p) => p.name),
      ['nas', 'usb'],
    );
  });

  it('refuses an unknown name, listing the available ones', () => {
    const message = configErrorOf(() => selectProfiles(profiles, ['usb', 'usbb']));
    assert.ok(message.includes('no profile named "usbb" (did you mean "usb"?)'), message);
    assert.ok(message.includes('usb, disk2, nas'), message);
    assert.ok(message.startsWith(path.resolve(FILE)), message);
  });
});

describe('closestMatch and editDistance', () => {
  it('computes optimal string alignment distance', () => {
    assert.equal(editDistance('exlude_dirs', 'exclude_dirs'), 1);
    assert.equal(editDistance('cehcksum', 'checksum'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('same', 'same'), 0);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  it('suggests only close candidates', () => {
    const keys = ['src', 'dist', 'exclude_dirs', 'exclude_files'];
    assert.equal(closestMatch('exlude_dirs', keys), 'exclude_dirs');
    assert.equal(closestMatch('EXCLUDE-FILES', keys), 'exclude_files');
    assert.equal(closestMatch('dst', keys), 'dist');
    assert.equal(closestMatch('xyz', keys), undefined);
    assert.equal(closestMatch('compression', keys), undefined);
  });
});

describe('parseJson', () => {
  const bad: { text: string; line: number; column: number; fragment: string }[] = [
    { text: '{\n  "src": "/a",\n}', line: 2, column: 14, fragment: 'trailing comma' },
    { text: '{\n  "src": "/a"\n  "dist": "/b"\n}', line: 3, column: 3, fragment: 'expected "," or "}"' },
    { text: '{"src": "/a", "src": "/b"}', line: 1, column: 15, fragment: 'duplicate key "src"' },
    { text: '{\n  // mine\n}', line: 2, column: 3, fragment: 'comments are not allowed' },
    { text: "{'src': 1}", line: 1, column: 2, fragment: 'double quotes' },
    { text: '{src: 1}', line: 1, column: 2, fragment: 'keys must be in double quotes' },
    { text: '{"src": "C:\\Users"}', line: 1, column: 12, fragment: 'invalid escape' },
    { text: '', line: 1, column: 1, fragment: 'the file is empty' },
    { text: '{"a": 01}', line: 1, column: 7, fragment: 'invalid number' },
    { text: '{"a": True}', line: 1, column: 7, fragment: 'expected a value, found "True"' },
    { text: '{"a": 1} x', line: 1, column: 10, fragment: 'after the end' },
    { text: '{"a": "b', line: 1, column: 7, fragment: 'unterminated string' },
    { text: '[1, 2', line: 1, column: 6, fragment: 'found end of file' },
  ];
  for (const c of bad) {
    it(`rejects ${JSON.stringify(c.text)}`, () => {
      assert.throws(
        () => parseJson(c.text),
        (err: unknown) => {
          assert.ok(err instanceof JsonSyntaxError);
          assert.ok(err.message.includes(c.fragment), err.message);
          assert.deepEqual([err.line, err.column], [c.line, c.column], err.message);
          return true;
        },
      );
    });
  }

  it('parses what JSON.parse parses, the same way', () => {
    const texts = [
      '{"a": [1, -2.5e3, 0, true, false, null, "x\\u00e9\\n\\"\\\\\\/"], "b": {"c": {}}, "d": []}',
      '\ufeff {"bom": 1} ',
      '"\\ud83d\\ude00 é"',
      '-0',
      '1E+2',
    ];
    for (const text of texts) assert.deepEqual(parseJson(text), JSON.parse(text.replace(/^\ufeff/, '')));
  });
});
