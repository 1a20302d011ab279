import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { EntryRecord } from '../../src/meta/entry.js';
import { parseIncrementBytes, parseIncrementJson, type CarriedRecord, type IncrementJson, type IncrementText, type ParseResult, type PathFilter } from '../../src/meta/increment.js';
import { serializeIncrement } from '../helpers/entries.js';
import { makeRng } from '../helpers/model.js';

// parseIncrementBytes reads increment.json line by line and decodes only the records a command wants.
// Whatever the file holds, its result must be parseIncrementJson's, with the lists filtered: the same
// records, the same problems named, the same reason when the file is refused.

const ID = '2026-11-25T163859Z';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function rec(path: string, over: Partial<EntryRecord> = {}): EntryRecord {
  const r: EntryRecord = { path, type: 'file', size: path.length, mtime: '2026-11-25T16:38:59.123Z', mtime_ns: '1764088739123456789', mode: 0o644, uid: 1000, gid: 1000, tracked: true, sha256: sha(path) };
  return { ...r, ...over };
}

function increment(over: Partial<IncrementJson> = {}): IncrementJson {
  const base: IncrementJson = {
    format: 1,
    id: ID,
    profile: 'default',
    source: '/home/me/Документы',
    started: '2026-11-25T16:38:59.123Z',
    finished: '2026-11-25T16:39:03.456Z',
    complete: true,
    link_mode: 'hardlink',
    hardback_version: '0.1.0',
    previous: null,
    summary: { new: 6, changed: 1, deleted: 1, errors: 1, bytes_copied: 12 },
    new: [
      rec('Projects', { type: 'dir', size: 0, mode: 0o755, sha256: undefined }),
      rec('Projects/a.txt'),
      rec('Projects/Ελληνικά σημειώσεις.md'),
      rec('Projects/emoji 🎉/x.md', { tracked: false }),
      rec('Projects/link', { type: 'symlink', size: 0, sha256: undefined, target: '../"quoted"\\target\u0001' }),
      rec('Projects/dir-with-sha', { type: 'dir', size: 0, mode: 0o700 }),
    ].map(clean),
    changed: [rec('todo.txt', { mtime_ns: '-5' })],
    deleted: [rec('old.md')],
    errors: [{ path: 'Notes/locked.txt', op: 'read', code: 'EACCES', message: 'permission denied' }],
    skipped: [{ path: 'run/app.sock', kind: 'socket' }],
  };
  return { ...base, ...over };
}

/** Drops undefined fields, as JSON would. */
function clean<T extends object>(r: T): T {
  return JSON.parse(JSON.stringify(r)) as T;
}

const carried = (path: string, status: CarriedRecord['status'], over: Partial<EntryRecord> = {}): CarriedRecord => ({ ...rec(path, over), status, from: '2026-11-24T100000Z' });

const FILTERS: [string, PathFilter][] = [
  ['all', () => true],
  ['none', () => false],
  ['*.md', (p) => p.endsWith('.md')],
  ['Projects/**', (p) => p.startsWith('Projects/')],
];

/** parseIncrementJson's result with only the records `want` accepts. */
function eager(text: string, want: PathFilter): ParseResult {
  const r = parseIncrementJson(text, ID);
  if (!r.ok) return r;
  const keep = <T extends EntryRecord>(list: T[]) => list.filter((x) => want(x.path));
  const value = { ...r.value, new: keep(r.value.new), changed: keep(r.value.changed), deleted: keep(r.value.deleted) };
  if (r.value.carried !== undefined) value.carried = keep(r.value.carried);
  return { ok: true, value, badEntries: r.badEntries };
}

/** Piece sizes a file is read in besides all at once: a line or less, a few lines, most of the file. */
const PIECES = [1, 7, 64, 300];

function assertSame(bytes: Buffer, what: string): void {
  for (const [name, want] of FILTERS) {
    const r = parseIncrementBytes(bytes, ID, want);
    assert.deepEqual(r, eager(bytes.toString('utf8'), want), `${what}, filter ${name}`);
    assert.deepEqual(parsedTexts(parseIncrementBytes(bytes, ID, want, { recordText: true })), r, `${what}, filter ${name}, as text`);
    for (const pieceBytes of PIECES) {
      assert.deepEqual(parseIncrementBytes(bytes, ID, want, { pieceBytes }), r, `${what}, filter ${name}, in pieces of ${pieceBytes} bytes`);
      assert.deepEqual(parsedTexts(parseIncrementBytes(bytes, ID, want, { recordText: true, pieceBytes })), r, `${what}, filter ${name}, as text in pieces of ${pieceBytes} bytes`);
    }
  }
}

/**
 * A result with recordText, its lists of JSON texts joined and parsed as the thread that takes them
 * parses them (cli/tool/catalog-worker.ts): a list is all texts or all records.
 */
function parsedTexts(r: ParseResult<IncrementText>): ParseResult {
  if (!r.ok) return r;
  const parse = <T>(list: (T | string)[]): T[] => {
    if (list.length === 0 || !list.every((x) => typeof x === 'string')) {
      assert.ok(list.every((x) => typeof x !== 'string'), 'a list of texts and records');
      return list as T[];
    }
    return JSON.parse(`[${list.join(',')}]`) as T[];
  };
  const { carried, ...frame } = r.value;
  const value: IncrementJson = { ...frame, new: parse(r.value.new), changed: parse(r.value.changed), deleted: parse(r.value.deleted) };
  if (carried !== undefined) value.carried = parse(carried);
  return { ...r, value };
}

const text = (json: IncrementJson = increment()) => serializeIncrement(json);
/** The serialized increment with one record line replaced. */
const withLine = (find: string, replace: string, json?: IncrementJson) => {
  const t = text(json);
  const i = t.split('\n').findIndex((l) => l.includes(find));
  assert.ok(i >= 0, find);
  return t.split('\n').map((l, j) => (j === i ? replace : l)).join('\n');
};

describe('parseIncrementBytes: the same result as parseIncrementJson', () => {
  it('on increments as backup writes them, whatever is wanted', () => {
    assertSame(Buffer.from(text()), 'written layout');
    assertSame(Buffer.from(text(increment({ new: [], changed: [], deleted: [] }))), 'empty lists');
    const withCarried = increment({ carried: [carried('Projects/c.md', 'new'), carried('gone.txt', 'deleted'), carried('Projects/d', 'changed', { type: 'dir', size: 0, sha256: undefined })].map(clean), pruned: ['2026-11-24T100000Z'] });
    assertSame(Buffer.from(text(withCarried)), 'carried records');
    const r = parseIncrementBytes(Buffer.from(text(withCarried)), ID, () => true);
    assert.ok(r.ok);
    assert.equal(r.value.carried?.length, 3);
    assert.equal(r.value.new.length, 6);
    // As text, every record of the written layout is its line (the UTF-8 ones too), not an object.
    const t = parseIncrementBytes(Buffer.from(text(withCarried)), ID, () => true, { recordText: true });
    assert.ok(t.ok);
    const lines = text(withCarried).split('\n');
    for (const list of [t.value.new, t.value.changed, t.value.deleted, t.value.carried ?? []]) {
      for (const x of list) assert.ok(typeof x === 'string' && lines.some((l) => l.includes(x)), JSON.stringify(x));
    }
    assert.equal(t.value.new.length, 6);
  });

  it('reads the written layout line by line whatever the pieces it is read in (no whole parse behind it)', () => {
    const json = increment({ carried: [carried('Projects/c.md', 'new'), carried('gone.txt', 'deleted')].map(clean), pruned: ['2026-11-24T100000Z'] });
    const bytes = Buffer.from(text(json));
    const whole = eager(bytes.toString('utf8'), () => true);
    for (let pieceBytes = 1; pieceBytes <= bytes.length + 1; pieceBytes += pieceBytes < 64 ? 1 : 97) {
      const t = parseIncrementBytes(bytes, ID, () => true, { recordText: true, pieceBytes });
      assert.ok(t.ok, `pieces of ${pieceBytes}`);
      // A file parsed whole would give records; read line by line, each is its line's text.
      for (const list of [t.value.new, t.value.changed, t.value.deleted, t.value.carried ?? []]) {
        assert.ok(list.length > 0 && list.every((r) => typeof r === 'string'), `pieces of ${pieceBytes}: read line by line`);
      }
      assert.deepEqual(parsedTexts(t), whole, `pieces of ${pieceBytes}`);
    }
  });

  it('decodes only the wanted records', () => {
    const r = parseIncrementBytes(Buffer.from(text()), ID, (p) => p.endsWith('.md'));
    assert.ok(r.ok);
    assert.deepEqual(r.value.new.map((x) => x.path), ['Projects/Ελληνικά σημειώσεις.md', 'Projects/emoji 🎉/x.md']);
    assert.deepEqual(r.value.deleted.map((x) => x.path), ['old.md']);
    assert.deepEqual(r.value.changed, []);
    assert.equal(r.value.source, '/home/me/Документы');
  });

  it('names unsafe paths and wrong types wherever they are, wanted or not', () => {
    const cases = [
      ['"Projects/a.txt"', JSON.stringify(rec('../escape')) + ','],
      ['"Projects/a.txt"', JSON.stringify(rec('/tmp/abs')) + ','],
      ['"Projects/a.txt"', JSON.stringify(rec('Projects/nul\u0000x')) + ','],
      ['"Projects/a.txt"', JSON.stringify(rec('Projects/../../x')) + ','],
      // A drive letter and a backslash are unsafe only where they are a root and a separator.
      ...(process.platform === 'win32' ? [['"Projects/a.txt"', JSON.stringify(rec('C:/x')) + ','], ['"Projects/a.txt"', JSON.stringify(rec('a\\b')) + ',']] : []),
      ['"Projects/a.txt"', JSON.stringify(rec('Projects/wrong-type', { type: 42 as never })) + ','],
      ['"Projects/a.txt"', JSON.stringify(rec('Projects/wrong-size', { size: 'big' as never })) + ','],
      ['"Projects/a.txt"', JSON.stringify(rec('Projects/bad-sha', { sha256: 'ABC' })) + ','],
      ['"Projects/a.txt"', JSON.stringify(rec('Projects/ns', { mtime_ns: 5 as never })) + ','],
      ['"Projects/a.txt"', '  7,'],
      ['"Projects/a.txt"', '  null,'],
      ['"Projects/a.txt"', '  [],'],
      ['"Projects/a.txt"', '  {"path":"Projects/order.md","size":3,"type":"file","mtime":"x","mtime_ns":"1","mode":420,"uid":0,"gid":0,"tracked":true,"sha256":"' + 'a'.repeat(64) + '"},'],
      ['"Projects/a.txt"', '  {"path":"Projects/dup.md","path":"../dup","type":"dir","size":0,"mtime":"x","mtime_ns":"1","mode":420,"uid":0,"gid":0,"tracked":true},'],
      ['"Projects/a.txt"', '  {"path":"Projects/q\\"uote.md","type":"dir","size":0,"mtime":"x","mtime_ns":"1","mode":420,"uid":0,"gid":0,"tracked":true},'],
      ['"Projects/a.txt"', '  {"path":"Projects/float.md","type":"dir","size":0.5,"mtime":"x","mtime_ns":"1","mode":420,"uid":"root","gid":0,"tracked":true},'],
    ] as const;
    for (const [find, line] of cases) {
      const t = withLine(find, line.startsWith('  ') ? line : `  ${line}`);
      assertSame(Buffer.from(t), line);
    }
    const withBadCarried = increment({ carried: [carried('Projects/c.md', 'new'), { ...carried('x.md', 'new'), status: 'moved' as never }, { ...carried('../c', 'new') }] });
    assertSame(Buffer.from(text(withBadCarried)), 'bad carried records');
    const bad = parseIncrementBytes(Buffer.from(text(withBadCarried)), ID, () => false);
    assert.ok(bad.ok);
    assert.deepEqual(bad.badEntries, ['x.md: carried record without a valid status or origin', 'unsafe path "../c"']);
  });

  it('refuses a file that is not JSON with the same reason, even where no record is wanted', () => {
    const cases: [string, string][] = [
      ['a record line that is not JSON', withLine('"Projects/a.txt"', '  {"path":"Projects/a.txt",garbage},')],
      ['a missing comma', withLine('"Projects/a.txt"', `  ${JSON.stringify(rec('Projects/a.txt'))}`)],
      ['a comma after the last record', withLine('"old.md"', `  ${JSON.stringify(rec('old.md'))},`)],
      ['cut in half', text().slice(0, text().length / 2)],
      ['a broken frame', text().replace('"complete": true', '"complete": tru')],
      ['a wrong frame and a broken record', withLine('"Projects/a.txt"', '  {oops},').replace('"format": 1', '"format": 2')],
      ['a byte order mark', `\ufeff${text()}`],
      ['empty', ''],
    ];
    for (const [what, t] of cases) {
      const r = parseIncrementBytes(Buffer.from(t), ID, () => false);
      assert.equal(r.ok, false, what);
      assertSame(Buffer.from(t), what);
    }
  });

  it('reads any other valid JSON as a whole', () => {
    const json = increment();
    const cases: [string, string][] = [
      ['compact', JSON.stringify(json)],
      ['indented', JSON.stringify(json, null, 2)],
      ['CRLF', text().replace(/\n/g, '\r\n')],
      ['"new" twice (the last one counts)', text().replace(' "changed": [', ` "new": [\n  ${JSON.stringify(rec('second.md'))}\n ],\n "changed": [`)],
      ['a record list inside another field', text().replace(' "errors": [', ` "nested": {"x": 1,\n "new": [\n  ${JSON.stringify(rec('nested.md'))}\n ]},\n "errors": [`)],
      ['a frame with a wrong format', text().replace('"format": 1', '"format": 2')],
      ['a wrong id', text().replace(`"id": "${ID}"`, '"id": "other"')],
      ['"new" not a list', text().replace(/ "new": \[[^]*?\n \],/, ' "new": 5,')],
      ['something like the placeholder', text().replace('"profile": "default"', '"profile": "hardback-lines-00-0"')],
      ['two records on one line', withLine('"Projects/a.txt"', `  ${JSON.stringify(rec('Projects/a.txt'))}, ${JSON.stringify(rec('b.md'))},`)],
      ['a record line outside a list', text().replace(' "errors": [', ' "errors": [\n  {"path":"x"},')],
    ];
    for (const [what, t] of cases) assertSame(Buffer.from(t), what);
    const twice = parseIncrementBytes(Buffer.from(cases[3]?.[1] ?? ''), ID, () => true);
    assert.ok(twice.ok);
    assert.deepEqual(twice.value.new.map((r) => r.path), ['second.md']);
  });

  it('decodes UTF-8 as a whole parse would, invalid bytes included', () => {
    const t = text();
    const bytes = Buffer.from(t);
    // An invalid byte inside a path and another inside the frame.
    const inPath = Buffer.from(t.replace('Projects/a.txt', 'Projects/a\u00ff.txt'), 'utf8');
    inPath[inPath.indexOf(Buffer.from('a\u00ff.txt')) + 1] = 0xff;
    inPath[inPath.indexOf(Buffer.from('a\u00ff.txt')) + 2] = 0x2e;
    assertSame(bytes, 'valid UTF-8');
    assertSame(Buffer.concat([bytes.subarray(0, 20), Buffer.from([0xc3]), bytes.subarray(20)]), 'a stray byte in the frame');
    assertSame(Buffer.from(t.replace('Projects/a.txt', 'Projects/\u00e9t\u00e9.txt'), 'latin1'), 'latin1 bytes');
  });

  it('agrees with parseIncrementJson on thousands of random edits', () => {
    const rng = makeRng(20261125);
    const base = Buffer.from(text(increment({ carried: [carried('Projects/c.md', 'changed')] })));
    const alphabet = Buffer.from('"{}[],:\\\n 0a.-/ntf\u00e9');
    for (let i = 0; i < 3000; i++) {
      let b = Buffer.from(base);
      const edits = 1 + Math.floor(rng() * 3);
      for (let k = 0; k < edits; k++) {
        const at = Math.floor(rng() * b.length);
        const byte = alphabet[Math.floor(rng() * alphabet.length)] as number;
        const kind = rng();
        if (kind < 0.33) b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        else if (kind < 0.66) b = Buffer.concat([b.subarray(0, at), Buffer.from([byte]), b.subarray(at)]);
        else b[at] = byte;
      }
      const pieceBytes = 1 + Math.floor(rng() * 200);
      for (const [name, want] of FILTERS) {
        const r = parseIncrementBytes(b, ID, want);
        assert.deepEqual(r, eager(b.toString('utf8'), want), `edit ${i}, filter ${name}:\n${b.toString('utf8')}`);
        assert.deepEqual(parsedTexts(parseIncrementBytes(b, ID, want, { recordText: true })), r, `edit ${i}, filter ${name}, as text`);
        assert.deepEqual(parseIncrementBytes(b, ID, want, { pieceBytes }), r, `edit ${i}, filter ${name}, in pieces of ${pieceBytes} bytes`);
      }
    }
  });
});
