import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Fs } from '../../src/io/fs.js';
import { applyOp, encodeLine, happened, openJournal, Verdicts, fnv1a32, fnv1a32Bytes, JournalWriter, lineJson, maxLineBytes, writeLine, readJournal, type JournalHeader, type JournalOp } from '../../src/store/journal.js';
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { removeDir, tempDir } from '../helpers/tree.js';
import { Layout } from '../../src/store/layout.js';
import type { StateEntry } from '../../src/meta/entry.js';

const header: JournalHeader = { journal: 1, id: '2026-11-25T163859Z', profile: 'default', source: '/src', started: '2026-11-25T16:38:59.123Z', link_mode: 'hardlink' };
function entry(path: string, over: Partial<StateEntry> = {}): StateEntry {
  return { path, type: 'file', size: 3, mtime_ns: '1700000000000000001', mode: 0o644, uid: 0, gid: 0, tracked: true, sha256: 'c'.repeat(64), ...over };
}
const put = (path: string, tmp: string): JournalOp => ({ op: 'put', kind: 'new', entry: entry(path), tmp });
const del = (path: string): JournalOp => ({ op: 'del', entry: entry(path) });

/** An Fs that knows one file's text (readJournal reads nothing else) and which paths exist with which type. */
function textFs(text: string | undefined, types: ReadonlyMap<string, 'file' | 'dir' | 'symlink'> = new Map()): Fs {
  const bytes = text === undefined ? undefined : Buffer.from(text, 'utf8');
  const stub = {
    openSync: () => {
      if (bytes === undefined) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      return 7;
    },
    fstatSync: () => ({ size: bytes?.length ?? 0 }),
    // At most 5 bytes a call, as a pipe may give them (readFully reads on until its chunk is full).
    readSync: (_fd: number, buf: Buffer, offset: number, length: number, position: number) => bytes?.copy(buf, offset, position, position + Math.min(length, 5)) ?? 0,
    closeSync: () => undefined,
    lstatSync: (p: string) => {
      const t = types.get(p);
      if (t === undefined) return undefined;
      return { isDirectory: () => t === 'dir', isSymbolicLink: () => t === 'symlink', isFile: () => t === 'file' };
    },
  };
  return stub as unknown as Fs;
}

describe('journal line encoding', () => {
  it('the line check is FNV-1a 32 (published test vectors)', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });

  it('the writer: the lines of a batch larger than its buffer, with names of 2-, 3- and 4-byte characters (escaped in the lines), are written whole at a flush and read back', (t) => {
    const dir = tempDir('hb-journal-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'journal.jsonl');
    const w = new JournalWriter(realFs, file, header);
    const ops = Array.from({ length: 6000 }, (_, i) => put(`dir ${i % 9}/файл-€-😀 ${i} ${'x'.repeat(i % 300)}.txt`, `hb-${i}`));
    for (const op of ops.slice(0, 5000)) w.append(op);
    assert.equal(nodeFs.statSync(file).size, encodeLine(header).length, 'nothing but the header before the flush');
    w.flush();
    const written = nodeFs.statSync(file).size;
    assert.ok(written > 2 << 20, `${written} bytes: the buffer (1 MiB) grew`);
    for (const op of ops.slice(5000)) w.append(op);
    w.flush();
    w.close();
    const text = nodeFs.readFileSync(file, 'utf8');
    assert.equal(text, [header, ...ops].map(encodeLine).join(''));
    const back = readJournal(realFs, file);
    assert.equal(back?.dropped, 0);
    assert.deepEqual(back?.ops, ops);
  });

  it('a line is 8 hex of fnv1a32(json), a space, the json, a newline', () => {
    const line = encodeLine(header);
    const json = JSON.stringify(header);
    assert.equal(line, `${fnv1a32(json).toString(16).padStart(8, '0')} ${json}\n`);
  });

  it('fnv1a32 over the bytes of an ASCII text is fnv1a32 of the text (the writer checks bytes, the reader text)', () => {
    for (const text of ['', 'a', 'foobar', '{"path":"\\u00e9t\\u00e9"}']) {
      const bytes = Buffer.from(`..${text}..`, 'latin1');
      assert.equal(fnv1a32Bytes(bytes, 2, bytes.length - 2), fnv1a32(text), text);
    }
    const utf8 = Buffer.from('é', 'utf8');
    assert.notEqual(fnv1a32Bytes(utf8, 0, utf8.length), fnv1a32('é'), 'not so for other characters: why lines are ASCII');
  });

  it('a line of JSON that is not ASCII is checked over its text, so a reader keeps it', () => {
    const h: JournalHeader = { ...header, profile: 'café' };
    const op = put('été/🙂.txt', 'hb-1');
    const jsons = [JSON.stringify(h), JSON.stringify(op)];
    const buf = Buffer.alloc(jsons.reduce((n, j) => n + maxLineBytes(j), 0));
    let at = 0;
    for (const json of jsons) {
      const bytes = Buffer.from(json);
      assert.notEqual(fnv1a32Bytes(bytes, 0, bytes.length), fnv1a32(json), 'the two checks differ here');
      at = writeLine(buf, at, json);
    }
    const text = buf.toString('utf8', 0, at);
    assert.equal(text, jsons.map((j) => `${fnv1a32(j).toString(16).padStart(8, '0')} ${j}\n`).join(''));
    assert.deepEqual(readJournal(textFs(text), 'journal.jsonl'), { header: h, ops: [op], dropped: 0 });
  });

  it("an op's line is the JSON of every field of the op and its entry, in ASCII, whatever the names hold", () => {
    // Every field of StateEntry: a field added to the type and not to the journal's JSON fails to
    // compile here, or fails the comparison below.
    const full: Required<StateEntry> = {
      path: 'dir "q" \\ é/€ 😀 \ud800 \t\u007f.txt',
      type: 'symlink',
      size: 0,
      mtime_ns: '-1000000001',
      mode: 0o7777,
      uid: 65534,
      gid: 4294967294,
      sha256: 'f'.repeat(64),
      target: '../ziel/ü\n',
      tracked: false,
      ino: '2049:1234567',
      since: '2026-11-25T163859Z',
    };
    const ops: JournalOp[] = [
      { op: 'put', kind: 'changed', entry: full, tmp: 'hb-1-é', moved_from: 'alt/ä 😀.txt' },
      { op: 'put', kind: 'new', entry: entry('a/b.txt'), tmp: 'hb-2' },
      { op: 'mkdir', entry: entry('d', { type: 'dir', size: 0, sha256: undefined, target: undefined }) },
      { op: 'dirmode', entry: { ...full, type: 'dir' } },
      { op: 'del', entry: full },
    ];
    for (const op of [header, ...ops]) {
      const json = lineJson(op);
      assert.match(json, /^[\x20-\x7e]*$/, 'printable ASCII only');
      assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(op)));
    }
  });

  it('a journal of an earlier build (lines checked with 8 hex of sha256) is still read', () => {
    const legacy = (v: unknown) => {
      const json = JSON.stringify(v);
      return `${createHash('sha256').update(json).digest('hex').slice(0, 8)} ${json}\n`;
    };
    const j = readJournal(textFs(legacy(header) + legacy(put('a.txt', 'hb-1')) + encodeLine(put('b.txt', 'hb-2'))), 'journal.jsonl');
    assert.deepEqual(j?.ops.map((o) => o.entry.path), ['a.txt', 'b.txt']);
    assert.equal(j?.dropped, 0);
  });

  it('a line whose json was altered (one character) fails its check and is dropped', () => {
    const good = encodeLine(put('a.txt', 'hb-1'));
    const bad = good.replace('a.txt', 'b.txt');
    const j = readJournal(textFs(encodeLine(header) + bad + encodeLine(put('c.txt', 'hb-3'))), 'journal.jsonl');
    assert.deepEqual(j?.ops.map((o) => o.entry.path), ['c.txt']);
    assert.equal(j?.dropped, 1);
  });

  it('round-trips a header and ops', () => {
    const ops = [put('a.txt', 'hb-1'), { op: 'mkdir', entry: entry('d', { type: 'dir', size: 0 }) } as JournalOp, del('old.txt')];
    const text = encodeLine(header) + ops.map(encodeLine).join('');
    const j = readJournal(textFs(text), 'journal.jsonl');
    assert.deepEqual(j, { header, ops, dropped: 0 });
  });

  it('a missing journal reads as none', () => {
    assert.equal(readJournal(textFs(undefined), 'journal.jsonl'), undefined);
  });

  it('a torn last line is dropped', () => {
    const full = encodeLine(put('b.txt', 'hb-2'));
    const text = encodeLine(header) + encodeLine(put('a.txt', 'hb-1')) + full.slice(0, full.length - 10);
    const j = readJournal(textFs(text), 'journal.jsonl');
    assert.deepEqual(j?.ops.map((o) => o.entry.path), ['a.txt']);
    assert.equal(j?.dropped, 1);
  });

  it('a last line missing only its newline is still dropped (never trusted)', () => {
    const full = encodeLine(put('b.txt', 'hb-2'));
    const text = encodeLine(header) + full.slice(0, -1);
    const j = readJournal(textFs(text), 'journal.jsonl');
    assert.deepEqual(j?.ops, []);
    assert.equal(j?.dropped, 1);
  });

  it('a line whose checksum does not match is dropped; the lines around it are kept', () => {
    const bad = encodeLine(put('b.txt', 'hb-2')).replace('b.txt', 'B.txt');
    const text = encodeLine(header) + encodeLine(put('a.txt', 'hb-1')) + bad + encodeLine(del('c.txt'));
    const j = readJournal(textFs(text), 'journal.jsonl');
    assert.deepEqual(j?.ops.map((o) => `${o.op}:${o.entry.path}`), ['put:a.txt', 'del:c.txt']);
    assert.equal(j?.dropped, 1);
  });

  it('a corrupted checksum field is dropped too', () => {
    const good = encodeLine(put('b.txt', 'hb-2'));
    const flipped = (good[0] === '0' ? '1' : '0') + good.slice(1);
    const j = readJournal(textFs(encodeLine(header) + flipped), 'journal.jsonl');
    assert.deepEqual(j?.ops, []);
    assert.equal(j?.dropped, 1);
  });

  it('an op with an unsafe path is dropped even with a valid checksum', () => {
    const text = encodeLine(header) + encodeLine(put('../escape', 'hb-1')) + encodeLine(put('/abs', 'hb-2')) + encodeLine(put('ok', 'hb-3'));
    const j = readJournal(textFs(text), 'journal.jsonl');
    assert.deepEqual(j?.ops.map((o) => o.entry.path), ['ok']);
    assert.equal(j?.dropped, 2);
  });

  it('a damaged or torn header means no usable journal', () => {
    const h = encodeLine(header);
    assert.equal(readJournal(textFs(h.slice(0, 20)), 'j'), undefined);
    assert.equal(readJournal(textFs(h.replace('default', 'DEFAULT') + encodeLine(del('x'))), 'j'), undefined);
    assert.equal(readJournal(textFs(encodeLine({ journal: 2, id: 'x' } as unknown as JournalHeader)), 'j'), undefined);
  });

  it('a first line with no newline in its first MiB, with more after it, is refused, not taken for a torn header (recovery would remove the file)', () => {
    const long = 'x'.repeat((1 << 20) + 10);
    assert.throws(() => readJournal(textFs(`${long}\n${encodeLine(del('a'))}`), 'j'), /the journal header is longer than 1048576 bytes; refusing/);
    assert.equal(readJournal(textFs('x'.repeat(5000)), 'j'), undefined, 'a short first line without its newline: torn');
  });

  it('an op whose entry is not of its formats is dropped, even with a valid check', () => {
    const bad = (over: Partial<StateEntry>): JournalOp => ({ op: 'put', kind: 'new', entry: entry('b.txt', over), tmp: 'hb-2' });
    const text = encodeLine(header) + encodeLine(put('a.txt', 'hb-1')) + encodeLine(bad({ sha256: 'zz' })) + encodeLine(bad({ since: 'yesterday' })) + encodeLine(put('c.txt', 'hb-3'));
    const j = readJournal(textFs(text), 'j');
    assert.deepEqual(
      j?.ops.map((o) => o.entry.path),
      ['a.txt', 'c.txt'],
    );
    assert.equal(j?.dropped, 2);
    const open = openJournal(textFs(`${text}0123abcd {"torn`), 'j');
    assert.ok(open !== undefined);
    assert.equal([...open.ops()].length, 2);
    assert.deepEqual([open.dropped, open.damaged], [3, 2], 'the torn last line is dropped, not counted as damaged');
  });
});

describe('openJournal: a line at a time', () => {
  // Lines of raw (unescaped) UTF-8, as a reader must keep them (checked over their text), of 1- to
  // 4-byte characters, read in chunks of 1 to 17 bytes: every character and newline falls on a
  // chunk's edge somewhere.
  const raw = (value: unknown): string => {
    const json = JSON.stringify(value);
    return `${fnv1a32(json).toString(16).padStart(8, '0')} ${json}\n`;
  };
  const ops = ['a', 'é/ü', '€ 漢字', '🙂🙃/x', 'plain/name.txt', 'Ωmega 😀 end'].map((p, i) => put(`${p}-${i}`, `hb-${i}`));
  const text = raw(header) + ops.map(raw).join('') + '0123abcd {"op":"put","tor';

  it('gives the same changes whatever the size of its reads, a torn last line dropped', () => {
    for (let chunk = 1; chunk <= 17; chunk++) {
      const j = openJournal(textFs(text), 'j', chunk);
      assert.ok(j !== undefined);
      assert.deepEqual(j.header, header);
      assert.deepEqual([...j.ops()], ops, `chunks of ${chunk} bytes`);
      assert.equal(j.dropped, 1, `chunks of ${chunk} bytes: the torn line`);
      assert.equal(j.damaged, 0);
      assert.deepEqual([...j.ops()], ops, 'read again: the same');
    }
  });

  it('reads up to the size it had when opened: what a live run appends later is not read', (t) => {
    const dir = tempDir('hb-journal-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'journal.jsonl');
    nodeFs.writeFileSync(file, raw(header) + raw(ops[0]));
    const j = openJournal(realFs, file, 4);
    assert.ok(j !== undefined);
    t.after(() => j.close());
    nodeFs.appendFileSync(file, raw(ops[1]));
    assert.deepEqual([...j.ops()], [ops[0]]);
  });

  it('each reading is of the file it opened, even once another is put in its place', (t) => {
    const dir = tempDir('hb-journal-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'journal.jsonl');
    nodeFs.writeFileSync(file, raw(header) + raw(ops[0]));
    const j = openJournal(realFs, file);
    assert.ok(j !== undefined);
    t.after(() => j.close());
    assert.deepEqual([...j.ops()], [ops[0]]);
    nodeFs.writeFileSync(`${file}.new`, raw(header) + raw(ops[1]));
    nodeFs.renameSync(`${file}.new`, file);
    assert.deepEqual([...j.ops()], [ops[0]]);
    j.close();
    assert.throws(() => [...j.ops()], /the journal was closed/);
  });

  it('a reading resumed after the journal was closed throws, rather than read whatever the descriptor is now', (t) => {
    const dir = tempDir('hb-journal-');
    t.after(() => removeDir(dir));
    const file = join(dir, 'journal.jsonl');
    nodeFs.writeFileSync(file, raw(header) + ops.map(raw).join(''));
    const j = openJournal(realFs, file, 4);
    assert.ok(j !== undefined);
    const reading = j.ops();
    assert.deepEqual(reading.next().value, ops[0]);
    j.close();
    assert.throws(() => reading.next(), /the journal was closed/);
  });

  it('Verdicts.doneOps gives the changes judged done, and refuses a journal that reads with another count of changes', () => {
    const j = openJournal(textFs(text), 'j', 7);
    assert.ok(j !== undefined);
    const verdicts = new Verdicts();
    [...j.ops()].forEach((_, i) => verdicts.push(i % 2 === 0));
    assert.deepEqual([...verdicts.doneOps(j, 'j')], ops.filter((_, i) => i % 2 === 0));
    verdicts.push(true);
    assert.throws(() => [...verdicts.doneOps(j, 'j')], /j changed while it was read \(7 changes, then 6\)/);
  });
});

describe('happened and applyOp', () => {
  const layout = new Layout('/dist');
  it('decides from the disk which announced changes happened', () => {
    const ops: JournalOp[] = [
      put('done.txt', 'hb-gone'), // temp file renamed away: done
      put('undone.txt', 'hb-still'), // temp file still there: not done
      { op: 'mkdir', entry: entry('newdir', { type: 'dir', size: 0 }) }, // folder exists: done
      { op: 'mkdir', entry: entry('missingdir', { type: 'dir', size: 0 }) }, // not there: not done
      del('deleted.txt'), // gone from the mirror: done
      del('kept.txt'), // the file is still in the mirror: not done
      del('swap'), // a type swap file → symlink that finished: the mirror holds the symlink now
      { op: 'put', kind: 'new', entry: entry('swap', { type: 'symlink', size: 0, target: 'x' }), tmp: 'hb-swap-gone' },
      { op: 'dirmode', entry: entry('d', { type: 'dir', size: 0 }) },
    ];
    const types = new Map<string, 'file' | 'dir' | 'symlink'>([
      [`${layout.tmp}/hb-still`, 'file'],
      [layout.mirrorPath('kept.txt'), 'file'],
      [layout.mirrorPath('swap'), 'symlink'],
      [layout.mirrorPath('newdir'), 'dir'],
    ]);
    const fs = textFs('', types);
    // Judged alone, in any order: the same verdicts backwards.
    const done = ops.filter((op) => happened(fs, layout, op));
    assert.deepEqual([...ops].reverse().filter((op) => happened(fs, layout, op)), [...done].reverse());
    const show = (list: JournalOp[]) => list.map((o) => `${o.op}:${o.entry.path}`);
    assert.deepEqual(show(done), ['put:done.txt', 'mkdir:newdir', 'del:deleted.txt', 'del:swap', 'put:swap', 'dirmode:d']);
    assert.deepEqual(show(ops.filter((op) => !happened(fs, layout, op))), ['put:undone.txt', 'mkdir:missingdir', 'del:kept.txt']);

    const state = new Map<string, StateEntry>([
      ['deleted.txt', entry('deleted.txt')],
      ['swap', entry('swap')],
      ['kept.txt', entry('kept.txt')],
    ]);
    for (const op of done) applyOp(state, op);
    assert.deepEqual([...state.keys()].sort(), ['d', 'done.txt', 'kept.txt', 'newdir', 'swap']);
    assert.equal(state.get('swap')?.type, 'symlink');
  });
});
