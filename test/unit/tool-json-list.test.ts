import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { chunkedOutput, drained, printJson, printJsonList, WRITE_CHUNK } from '../../src/cli/tool/output.js';

// search prints its results a batch at a time (printJsonList); the text must be exactly what printJson
// prints for the whole document.

/** What `write` writes into a stream, as far as it has been written when `text`/`writes` are asked. */
function capture(write: (out: Writable) => void): { text(): string; writes(): number } {
  let text = '';
  let writes = 0;
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      writes++;
      cb();
    },
  });
  write(out);
  return { text: () => text, writes: () => writes };
}

describe('printJsonList', () => {
  // An item with no JSON (undefined) is null in a list, in both.
  const item = (i: number) => (i % 97 === 50 ? undefined : {
    path: `Ελληνικά/"quoted"\\back\u0001/${i} 🎉.md`,
    type: i % 3 === 0 ? null : 'file',
    in_mirror: i % 2 === 0,
    current: i % 4 === 0 ? null : { size: i, mtime_ns: String(1e18 + i), nested: { list: [1, [2, []], {}], empty: [] } },
    versions: Array.from({ length: i % 5 }, (_, k) => ({ increment: k === 0 ? null : `2026-01-0${k}T000000Z`, size: k })),
  });

  it('prints the same text as the whole document would be printed', async () => {
    for (const n of [0, 1, 2, 7, 31, 32, 33, 65, 255, 256, 257, 513, 3000]) {
      const items = Array.from({ length: n }, (_, i) => i);
      const body = { masks: ['*.md', 'a"b'], deleted_only: false, since: null, until: '2026-01-01T000000Z' };
      const whole = capture((out) => printJson(undefined, 'search', 0, { ...body, results: items.map(item) }, out));
      let done: Promise<void> = Promise.resolve();
      const pending = capture((out) => (done = printJsonList(undefined, 'search', 0, body, { key: 'results', items, json: item }, out)));
      await done;
      const listed = { text: pending.text(), writes: pending.writes() };
      assert.equal(listed.text, whole.text(), `${n} results`);
      if (n === 3000) assert.ok(listed.writes > 1, 'written in pieces');
    }
  });

  it('takes its items as it writes them: from a generator, the same text, and the first batch written before the rest are made', async () => {
    const body = { masks: [], deleted_only: false, since: null, until: null };
    for (const n of [0, 1, 32, 33, 3000]) {
      let taken = 0;
      const takenAtWrite: number[] = [];
      function* items(): Generator<number> {
        for (let i = 0; i < n; i++) {
          taken++;
          yield i;
        }
      }
      const whole = capture((out) => printJson(undefined, 'search', 0, { ...body, results: Array.from({ length: n }, (_, i) => item(i)) }, out));
      let text = '';
      const out = new Writable({
        write(chunk: Buffer, _enc, cb) {
          text += chunk.toString();
          takenAtWrite.push(taken);
          cb();
        },
      });
      await printJsonList(undefined, 'search', 0, body, { key: 'results', items: items(), json: item }, out);
      assert.equal(text, whole.text(), `${n} results from a generator`);
      assert.equal(taken, n);
      // Each write waited for no more items than the batches written so far and the one being
      // written: the frame, then each batch (after the first, behind a separator).
      takenAtWrite.forEach((t, j) => assert.ok(t <= 32 * (j + 1), `${n} items: write ${j} came after ${t} items were made`));
      if (n === 3000) assert.ok(takenAtWrite.length > 3000 / 32, 'written a batch at a time');
    }
  });
});

describe('chunkedOutput', () => {
  it('writes the text it was given, in order, WRITE_CHUNK characters or more at a time, the rest at its end', () => {
    const piece = (i: number) => `${'é'.repeat(i % 97)}line ${i} 🎉\n`;
    for (const n of [0, 1, 50, 300, 60_000]) {
      let want = '';
      const got = capture((out) => {
        const c = chunkedOutput(out);
        for (let i = 0; i < n; i++) {
          want += piece(i);
          c.write(piece(i));
        }
        c.end();
        c.end();
      });
      assert.equal(got.text(), want, `${n} pieces`);
      const chunk = WRITE_CHUNK;
      assert.ok(got.writes() <= Math.floor(want.length / chunk) + 1, `${n} pieces (${want.length} characters) in ${got.writes()} writes`);
      if (n > 0 && want.length < chunk) assert.equal(got.writes(), 1, 'under a chunk: one write, at the end');
      if (want.length > 2 * chunk) assert.ok(got.writes() >= Math.floor(want.length / chunk / 2), 'over a chunk: written before the end');
    }
  });
});

/** A stream that holds up to `hwm` bytes and finishes each write only when the test says so. */
function heldStream(hwm: number): { out: Writable; release(): void } {
  const held: (() => void)[] = [];
  const out = new Writable({
    highWaterMark: hwm,
    write(_chunk: Buffer, _enc, cb) {
      held.push(() => cb());
    },
  });
  return { out, release: () => held.splice(0).forEach((cb) => cb()) };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
/** The promise, or a rejection if it has not settled in 5 s (a wait that never ends fails, not hangs). */
function within<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('still waiting after 5 s')), 5000)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
const EVENTS = ['drain', 'error', 'close', 'finish'];
const listeners = (out: Writable) => EVENTS.map((e) => out.listenerCount(e));

describe('drained', () => {
  it('resolves at once when the stream holds nothing waiting', async () => {
    const { out } = heldStream(16);
    let done = false;
    void drained(out).then(() => (done = true));
    await tick();
    assert.equal(done, true);
  });

  it('waits for the stream to pass on what it holds, then lets go of it', async () => {
    const { out, release } = heldStream(4);
    const before = listeners(out);
    assert.equal(out.write('more than four bytes'), false);
    let done = false;
    const waiting = drained(out).then(() => (done = true));
    await tick();
    assert.equal(done, false, 'not before the stream has passed it on');
    release();
    await within(waiting);
    assert.deepEqual(listeners(out), before, 'no listener left behind');
  });

  it('rejects when the stream fails, is closed or is ended meanwhile', async () => {
    const cases: [string, (out: Writable) => void, RegExp][] = [
      ['an error', (out) => out.destroy(new Error('disk on fire')), /disk on fire/],
      ['closed', (out) => out.destroy(), /closed before everything was written/],
    ];
    for (const [what, end, message] of cases) {
      const { out } = heldStream(4);
      out.on('error', () => {});
      out.write('more than four bytes');
      const waiting = drained(out);
      end(out);
      await assert.rejects(within(waiting), message, what);
      assert.deepEqual(listeners(out).slice(0, 1), [0], `${what}: the drain listener is gone`);
    }
    // Ended while it waits: a stream that is ending never emits 'drain', only 'finish'.
    const { out, release } = heldStream(4);
    out.write('more than four bytes');
    const waiting = drained(out);
    out.end();
    release();
    await assert.rejects(within(waiting), /ended before everything was written/);
    assert.deepEqual(listeners(out), [0, 0, 0, 0]);
  });
});

describe('chunkedOutput and a stream that asks to wait', () => {
  it('says so from write and from end', async () => {
    const { out, release } = heldStream(1024);
    const c = chunkedOutput(out);
    assert.equal(c.write('small'), true, 'gathered, not written');
    assert.equal(c.write('x'.repeat(1 << 20)), false, 'a megabyte written into a stream that holds 1 KiB');
    assert.equal(c.end(), false, 'nothing left to write, but the stream still holds too much');
    release();
    await within(drained(out));
    assert.equal(c.end(), true);
  });
});
