import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HardbackError } from '../../src/io/errors.js';
import { findConfigFile, loadConfig, selectProfiles } from '../../src/config/load.js';
import {
  KEEP_KEYS,
  LINK_FALLBACKS,
  MAX_WORKERS_MAX,
  MAX_WORKERS_MIN,
  PROFILE_KEYS,
  TOP_LEVEL_ONLY_KEYS,
  validateConfig,
} from '../../src/config/validate.js';

// Compiled to .test-build/test/integration/: the repository root is three levels up.
const SCHEMA_FILE = fileURLToPath(new URL('../../../config.schema.json', import.meta.url));

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hardback-config-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A fresh folder under the test's temp folder. */
function freshDir(name: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, `${name}-`));
  return dir;
}

function writeConfig(dir: string, content: unknown, name = 'config.json'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

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

describe('loadConfig', () => {
  it('loads the seed example unchanged but for src and dist', () => {
    const dir = freshDir('seed');
    const src = path.join(dir, 'Documents');
    const dist = path.join(dir, 'Backups');
    fs.mkdirSync(src);
    // The seed README's text, with only the two paths replaced.
    const seed = `{
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
`
      .replace('"~/Documents"', JSON.stringify(src))
      .replace('"~/Backups"', JSON.stringify(dist));
    const file = writeConfig(dir, seed);
    const profiles = loadConfig(file);
    assert.deepEqual(profiles, [
      {
        name: 'default',
        configFile: file,
        src,
        dist,
        rules: {
          include_dirs: ['Projects', 'Notes'],
          track_dirs: ['Projects'],
          include_files: ['todo.txt', 'readme.md'],
          track_files: ['todo.txt'],
          exclude_dirs: ['Temp', 'Cache'],
          exclude_files: ['*.log', '*.tmp'],
        },
        maxWorkers: 8,
        checksum: false,
        maxDeleteRatio: 0.5,
        linkFallback: 'copy',
        keep: undefined,
        pruneAfterBackup: false,
      },
    ]);
  });

  it("loads the profiles example: defaults apply, a profile's own keys replace them", () => {
    const dir = freshDir('profiles');
    const file = writeConfig(dir, {
      $schema: './config.schema.json',
      exclude_files: ['*.log', '*.tmp'],
      max_workers: 8,
      checksum: true,
      keep: { daily: 7, weekly: 4 },
      profiles: {
        usb: { src: '~/Documents', dist: '/media/me/USB/Backups' },
        disk2: {
          src: '~/Documents',
          dist: '/mnt/disk2/Backups',
          include_dirs: ['Projects'],
          exclude_files: ['*.iso'],
          max_workers: 2,
          checksum: false,
          keep: { last: 10 },
          link_fallback: 'error',
          max_delete_ratio: 0.1,
          prune_after_backup: true,
        },
      },
    });
    const profiles = loadConfig(file, { home: '/home/me' });
    assert.deepEqual(
      profiles.map((p) => p.name),
      ['usb', 'disk2'],
    );
    const [usb, disk2] = profiles;
    assert.ok(usb !== undefined && disk2 !== undefined);

    assert.equal(usb.src, path.resolve('/home/me/Documents'));
    assert.equal(usb.dist, path.resolve('/media/me/USB/Backups'));
    assert.deepEqual(usb.rules, { exclude_files: ['*.log', '*.tmp'] });
    assert.equal(usb.maxWorkers, 8);
    assert.equal(usb.checksum, true);
    assert.deepEqual(usb.keep, { daily: 7, weekly: 4 });
    assert.equal(usb.linkFallback, 'copy');
    assert.equal(usb.pruneAfterBackup, false);

    // Lists and keep replace the defaults, they do not merge.
    assert.deepEqual(disk2.rules, { include_dirs: ['Projects'], exclude_files: ['*.iso'] });
    assert.deepEqual(disk2.keep, { last: 10 });
    assert.equal(disk2.maxWorkers, 2);
    assert.equal(disk2.checksum, false);
    assert.equal(disk2.linkFallback, 'error');
    assert.equal(disk2.maxDeleteRatio, 0.1);
    assert.equal(disk2.pruneAfterBackup, true);

    // Profiles share nothing mutable.
    usb.rules.exclude_files?.push('*.bak');
    assert.deepEqual(loadConfig(file, { home: '/home/me' })[0]?.rules.exclude_files, ['*.log', '*.tmp']);

    assert.deepEqual(
      selectProfiles(profiles, ['disk2']).map((p) => p.name),
      ['disk2'],
    );
    const message = configErrorOf(() => selectProfiles(profiles, ['laptop']));
    assert.ok(message.includes(`${file}: no profile named "laptop"`), message);
    assert.ok(message.includes('usb, disk2'), message);
  });

  it('keeps track keys given as [] apart from absent ones', () => {
    const dir = freshDir('track');
    const file = writeConfig(dir, { src: 'a', dist: 'b', track_dirs: [], track_files: [] });
    const [p] = loadConfig(file);
    assert.deepEqual(p?.rules, { track_dirs: [], track_files: [] });
    const [q] = loadConfig(writeConfig(dir, { src: 'a', dist: 'b' }, 'other.json'));
    assert.deepEqual(q?.rules, {});
    assert.ok(q !== undefined && !('track_dirs' in q.rules));
  });

  it('expands "~" and "~/…" with opts.home', () => {
    const dir = freshDir('home');
    const home = freshDir('me');
    const file = writeConfig(dir, { profiles: { a: { src: '~', dist: '/elsewhere/x' }, b: { src: '~/Documents/./Work/', dist: '~/../Backups' } } });
    const [a, b] = loadConfig(file, { home });
    assert.equal(a?.src, home);
    assert.equal(b?.src, path.join(home, 'Documents', 'Work'));
    assert.equal(b?.dist, path.join(path.dirname(home), 'Backups'));
  });

  it("resolves relative paths against the config file's folder, not the working folder", () => {
    const stick = freshDir('stick');
    fs.mkdirSync(path.join(stick, 'conf'));
    const file = writeConfig(path.join(stick, 'conf'), { src: '../data', dist: 'Backups' });
    assert.notEqual(process.cwd(), path.join(stick, 'conf'));
    const [p] = loadConfig(file);
    assert.equal(p?.src, path.join(stick, 'data'));
    assert.equal(p?.dist, path.join(stick, 'conf', 'Backups'));
    assert.equal(p?.configFile, file);
  });

  it('returns an absolute configFile for a relative file argument', () => {
    const dir = freshDir('rel');
    const file = writeConfig(dir, { src: 'a', dist: 'b' });
    const relative = path.relative(process.cwd(), file);
    const [p] = loadConfig(relative);
    assert.equal(p?.configFile, file);
    assert.equal(p?.src, path.join(dir, 'a'));
  });

  it('refuses src inside dist, naming the file and the profile', () => {
    const dir = freshDir('inside');
    const file = writeConfig(dir, { dist: '.', profiles: { usb: { src: 'data' } } });
    const message = configErrorOf(() => loadConfig(file));
    assert.ok(message.startsWith(`${file}: profiles.usb: src (${path.join(dir, 'data')}) is inside dist (${dir})`), message);
  });

  it('allows dist inside src', () => {
    const dir = freshDir('distinside');
    const [p] = loadConfig(writeConfig(dir, { src: '.', dist: 'backup' }));
    assert.equal(p?.dist, path.join(dir, 'backup'));
  });

  it('reports a typo with the file name and a suggestion', () => {
    const dir = freshDir('typo');
    const file = writeConfig(dir, { profiles: { usb: { src: 'a', dist: 'b', exlude_dirs: ['Temp'] } } });
    assert.equal(configErrorOf(() => loadConfig(file)), `${file}: profiles.usb: unknown key "exlude_dirs" (did you mean "exclude_dirs"?)`);
  });

  it('reports JSON syntax errors with line and column', () => {
    const dir = freshDir('syntax');
    const file = writeConfig(dir, '{\n  "src": "a",\n  "dist": "b",\n}\n');
    assert.equal(configErrorOf(() => loadConfig(file)), `${file}:3:14: invalid JSON: trailing comma before "}"`);
    const dup = writeConfig(dir, '{\n  "src": "a",\n  "dist": "b",\n  "src": "c"\n}\n', 'dup.json');
    assert.equal(configErrorOf(() => loadConfig(dup)), `${dup}:4:3: invalid JSON: duplicate key "src"`);
  });

  it('accepts a UTF-8 byte order mark, refuses invalid UTF-8', () => {
    const dir = freshDir('bom');
    const bom = writeConfig(dir, '\ufeff{"src": "a", "dist": "b"}', 'bom.json');
    assert.equal(loadConfig(bom)[0]?.src, path.join(dir, 'a'));
    const latin1 = path.join(dir, 'latin1.json');
    fs.writeFileSync(latin1, Buffer.from([...Buffer.from('{"src": "'), 0xe9, ...Buffer.from('", "dist": "b"}')]));
    assert.match(configErrorOf(() => loadConfig(latin1)), /latin1\.json: not valid UTF-8 text/);
  });

  it('reports a missing file and a folder given as the file', () => {
    const dir = freshDir('missing');
    const file = path.join(dir, 'nope.json');
    assert.equal(configErrorOf(() => loadConfig(file)), `${file}: config file not found`);
    assert.equal(configErrorOf(() => loadConfig(dir)), `${dir}: is a folder, not a config file`);
  });
});

describe('findConfigFile', () => {
  it('prefers the explicit path, resolved against cwd', () => {
    const cwd = freshDir('cwd');
    const prog = freshDir('prog');
    writeConfig(cwd, {});
    writeConfig(prog, {});
    assert.equal(findConfigFile({ explicit: 'sub/my.json', cwd, programDir: prog }), path.join(cwd, 'sub', 'my.json'));
    assert.equal(findConfigFile({ explicit: '/etc/x.json', cwd, programDir: prog }), path.resolve('/etc/x.json'));
  });

  it('then config.json in cwd, then beside the program', () => {
    const cwd = freshDir('cwd');
    const prog = freshDir('prog');
    writeConfig(prog, {});
    assert.equal(findConfigFile({ cwd, programDir: prog }), path.join(prog, 'config.json'));
    writeConfig(cwd, {});
    assert.equal(findConfigFile({ cwd, programDir: prog }), path.join(cwd, 'config.json'));
  });

  it('skips a folder named config.json', () => {
    const cwd = freshDir('cwd');
    const prog = freshDir('prog');
    fs.mkdirSync(path.join(cwd, 'config.json'));
    writeConfig(prog, {});
    assert.equal(findConfigFile({ cwd, programDir: prog }), path.join(prog, 'config.json'));
  });

  it('names both places tried when neither exists', () => {
    const cwd = freshDir('cwd');
    const prog = freshDir('prog');
    const message = configErrorOf(() => findConfigFile({ cwd, programDir: prog }));
    assert.ok(message.includes(path.join(cwd, 'config.json')), message);
    assert.ok(message.includes(path.join(prog, 'config.json')), message);
  });

  it('names a place once when cwd is the program folder', () => {
    const cwd = freshDir('same');
    const message = configErrorOf(() => findConfigFile({ cwd, programDir: cwd }));
    assert.equal(message.split(path.join(cwd, 'config.json')).length, 2, message);
  });
});

// ---------------------------------------------------------------------------------------------
// config.schema.json must describe what validate.ts accepts. A minimal evaluator for the keywords
// the schema uses; an unknown keyword fails the test rather than being skipped.

type Schema = Record<string, unknown>;

const EVALUATED = new Set([
  '$ref', 'type', 'enum', 'minimum', 'maximum', 'minLength', 'pattern', 'minProperties',
  'items', 'properties', 'additionalProperties', 'propertyNames', 'required', 'anyOf', 'allOf',
]);
const ANNOTATIONS = new Set(['$schema', '$defs', 'title', 'description', 'default']);

function schemaAccepts(root: Schema, schema: Schema, value: unknown): boolean {
  for (const key of Object.keys(schema)) {
    assert.ok(EVALUATED.has(key) || ANNOTATIONS.has(key), `schema keyword ${key} is not evaluated by this test`);
  }
  const sub = (s: unknown, v: unknown): boolean => schemaAccepts(root, s as Schema, v);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

  if (typeof schema['$ref'] === 'string') {
    const target = schema['$ref'].replace(/^#\//, '').split('/').reduce<unknown>((node, part) => (node as Schema)[part], root);
    assert.ok(isObject(target), `unresolved $ref ${schema['$ref']}`);
    if (!sub(target, value)) return false;
  }
  const type = schema['type'];
  if (type !== undefined) {
    const ok =
      type === 'object' ? isObject(value)
      : type === 'array' ? Array.isArray(value)
      : type === 'integer' ? Number.isInteger(value)
      : type === 'number' ? typeof value === 'number'
      : typeof value === type;
    if (!ok) return false;
  }
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(value)) return false;
  if (typeof value === 'number') {
    if (typeof schema['minimum'] === 'number' && value < schema['minimum']) return false;
    if (typeof schema['maximum'] === 'number' && value > schema['maximum']) return false;
  }
  if (typeof value === 'string') {
    if (typeof schema['minLength'] === 'number' && value.length < schema['minLength']) return false;
    if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern'], 'u').test(value)) return false;
  }
  if (Array.isArray(value) && schema['items'] !== undefined && !value.every((v) => sub(schema['items'], v))) return false;
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (typeof schema['minProperties'] === 'number' && keys.length < schema['minProperties']) return false;
    const props = isObject(schema['properties']) ? schema['properties'] : {};
    for (const key of keys) {
      if (schema['propertyNames'] !== undefined && !sub(schema['propertyNames'], key)) return false;
      if (key in props) {
        if (!sub(props[key], value[key])) return false;
      } else if (schema['additionalProperties'] === false) {
        return false;
      } else if (isObject(schema['additionalProperties']) && !sub(schema['additionalProperties'], value[key])) {
        return false;
      }
    }
    if (Array.isArray(schema['required']) && !schema['required'].every((k) => typeof k === 'string' && keys.includes(k))) return false;
  }
  if (Array.isArray(schema['anyOf']) && !schema['anyOf'].some((s) => sub(s, value))) return false;
  if (Array.isArray(schema['allOf']) && !schema['allOf'].every((s) => sub(s, value))) return false;
  return true;
}

function validateAccepts(value: unknown): boolean {
  try {
    validateConfig(value, 'config.json');
    return true;
  } catch (err) {
    if (err instanceof HardbackError && err.kind === 'config') return false;
    throw err;
  }
}

describe('config.schema.json', () => {
  const schema = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8')) as Schema;
  const defs = schema['$defs'] as Record<string, Schema>;
  const keysOf = (s: unknown): string[] => Object.keys((s as Schema)['properties'] as Schema).sort();
  const sorted = (keys: readonly string[]): string[] => [...keys].sort();

  it('is a draft 2020-12 schema', () => {
    assert.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema['type'], 'object');
    assert.equal(schema['additionalProperties'], false);
  });

  it('lists exactly the keys validate.ts knows', () => {
    assert.deepEqual(keysOf(schema), sorted([...PROFILE_KEYS, ...TOP_LEVEL_ONLY_KEYS]));
    assert.deepEqual(keysOf(defs['profile']), sorted(PROFILE_KEYS));
    assert.equal(defs['profile']?.['additionalProperties'], false);
    assert.deepEqual(keysOf(defs['keep']), sorted(KEEP_KEYS));
    assert.deepEqual(defs['link_fallback']?.['enum'], [...LINK_FALLBACKS]);
    assert.equal(defs['max_workers']?.['minimum'], MAX_WORKERS_MIN);
    assert.equal(defs['max_workers']?.['maximum'], MAX_WORKERS_MAX);
  });

  it('describes every key', () => {
    const described = (s: unknown, name: string): void => {
      const node = s as Schema;
      const target = typeof node['$ref'] === 'string' ? defs[node['$ref'].replace('#/$defs/', '')] : node;
      assert.equal(typeof (node['description'] ?? target?.['description']), 'string', `${name} has no description`);
    };
    for (const [key, s] of Object.entries(schema['properties'] as Schema)) described(s, key);
    for (const [key, s] of Object.entries(defs['keep']?.['properties'] as Schema)) described(s, `keep.${key}`);
  });

  const base = { src: '/a', dist: '/b' };
  const configs: { name: string; config: unknown }[] = [
    { name: 'seed', config: { ...base, include_dirs: ['Projects', 'Notes'], track_dirs: ['Projects'], include_files: ['todo.txt'], track_files: [], exclude_dirs: ['Temp'], exclude_files: ['*.log'], max_workers: 8 } },
    { name: 'profiles', config: { exclude_files: ['*.log'], max_workers: 8, profiles: { usb: base, disk2: { ...base, include_dirs: ['P'] } } } },
    { name: 'src and dist from the top level', config: { ...base, profiles: { a: {}, b: { checksum: true } } } },
    { name: 'all keys', config: { $schema: 'x', ...base, checksum: true, max_delete_ratio: 1, link_fallback: 'error', keep: { last: 0, hourly: 1, daily: 2, weekly: 3, monthly: 4, yearly: 5 }, prune_after_backup: true } },
    { name: 'no src', config: { dist: '/b' } },
    { name: 'no dist in one profile', config: { src: '/a', profiles: { a: { dist: '/b' }, b: {} } } },
    { name: 'typo', config: { ...base, exlude_dirs: [] } },
    { name: 'typo in a profile', config: { profiles: { usb: { ...base, exlude_dirs: [] } } } },
    { name: 'profiles in a profile', config: { profiles: { usb: { ...base, profiles: {} } } } },
    { name: '$schema in a profile', config: { profiles: { usb: { ...base, $schema: 'x' } } } },
    { name: 'empty src', config: { src: '', dist: '/b' } },
    { name: 'list as string', config: { ...base, include_dirs: 'x' } },
    { name: 'empty pattern', config: { ...base, exclude_files: [''] } },
    { name: 'max_workers 0', config: { ...base, max_workers: 0 } },
    { name: 'max_workers 257', config: { ...base, max_workers: 257 } },
    { name: 'max_workers 1.5', config: { ...base, max_workers: 1.5 } },
    { name: 'checksum string', config: { ...base, checksum: 'true' } },
    { name: 'ratio 1.5', config: { ...base, max_delete_ratio: 1.5 } },
    { name: 'link_fallback other', config: { ...base, link_fallback: 'symlink' } },
    { name: 'keep empty', config: { ...base, keep: {} } },
    { name: 'keep negative', config: { ...base, keep: { daily: -1 } } },
    { name: 'keep unknown', config: { ...base, keep: { dayly: 1 } } },
    { name: 'profiles empty', config: { ...base, profiles: {} } },
    { name: 'profile name blank', config: { profiles: { ' ': base } } },
    { name: 'profile not object', config: { profiles: { usb: 'x' } } },
    { name: 'array top level', config: [base] },
  ];
  for (const { name, config } of configs) {
    it(`agrees with validate.ts on: ${name}`, () => {
      assert.equal(schemaAccepts(schema, schema, config), validateAccepts(config));
    });
  }
  it('accepts the good examples (the table above is not all rejections)', () => {
    assert.ok(schemaAccepts(schema, schema, configs[0]?.config));
    assert.ok(schemaAccepts(schema, schema, configs[2]?.config));
  });
});
