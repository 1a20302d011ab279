import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HardbackError } from '../../src/io/errors.js';
import { parseWhenTime, resolveWhen } from '../../src/restore/when.js';
import { baseIdFor } from '../../src/store/ids.js';

// Ids built from local times, so every expectation holds in any time zone.
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s);
const idAt = (d: Date) => baseIdFor(d);

const day1morning = idAt(local(2026, 3, 10, 9, 15, 0));
const day1evening = idAt(local(2026, 3, 10, 21, 40, 5));
const day1evening2 = `${day1evening}-2`;
const day3 = idAt(local(2026, 3, 12, 12, 0, 0));
const IDS = [day3, day1evening2, day1morning, day1evening]; // any order

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof HardbackError);
    assert.equal(err.exitCode, 2);
    return err.message;
  }
  assert.fail('expected a usage error');
}

describe('resolveWhen', () => {
  it('takes an exact id, even one that prefixes another', () => {
    assert.equal(resolveWhen(day1evening, IDS), day1evening);
    assert.equal(resolveWhen(day1evening2, IDS), day1evening2);
  });
  it('takes a unique prefix', () => {
    assert.equal(resolveWhen(day3.slice(0, 13), IDS), day3);
    assert.equal(resolveWhen(day1morning.slice(0, 15), IDS), day1morning);
  });
  it('names every candidate of an ambiguous prefix', () => {
    const msg = usageMessage(() => resolveWhen(day1evening.slice(0, 17), IDS));
    assert.match(msg, /matches 2 increments/);
    assert.ok(msg.includes(day1evening) && msg.includes(day1evening2), msg);
  });
  it('reads a date alone as the end of that day, local time: the last increment of the day', () => {
    assert.equal(resolveWhen('2026-03-10', IDS), day1evening2);
    assert.equal(resolveWhen('2026-03-11', IDS), day1evening2);
    assert.equal(resolveWhen('2026-03-12', IDS), day3);
    assert.equal(resolveWhen('2030-01-01', IDS), day3);
  });
  it('reads a local date-time as the last increment at or before it (to the end of its minute)', () => {
    assert.equal(resolveWhen('2026-03-10T09:15', IDS), day1morning);
    assert.equal(resolveWhen('2026-03-10 21:40:04', IDS), day1morning);
    assert.equal(resolveWhen('2026-03-10T21:40:05', IDS), day1evening2);
  });
  it('reads a date-time with a zone as that instant', () => {
    const t = local(2026, 3, 12, 12, 0, 0);
    const z = t.toISOString().replace(/\.\d{3}Z$/, 'Z');
    assert.equal(resolveWhen(z, IDS), day3);
    const before = new Date(t.getTime() - 1000).toISOString();
    assert.equal(resolveWhen(before, IDS), day1evening2);
  });
  it('refuses a time before the first increment, naming it', () => {
    const msg = usageMessage(() => resolveWhen('2026-03-10T09:14', IDS));
    assert.match(msg, /no increment at or before/);
    assert.ok(msg.includes(day1morning), msg);
  });
  it('for --since, reads a date or date-time as the first increment at or after its start', () => {
    assert.equal(resolveWhen('2026-03-10', IDS, { bound: 'start' }), day1morning);
    assert.equal(resolveWhen('2026-03-11', IDS, { bound: 'start' }), day3);
    assert.equal(resolveWhen('2026-03-10T21:40', IDS, { bound: 'start' }), day1evening);
    assert.equal(resolveWhen(day1evening2, IDS, { bound: 'start' }), day1evening2);
    assert.match(usageMessage(() => resolveWhen('2026-03-13', IDS, { bound: 'start' })), /no increment at or after .*the last one is/);
  });
  it('takes `latest`', () => assert.equal(resolveWhen('latest', IDS), day3));
  it('refuses an unknown WHEN, listing the increments', () => {
    const msg = usageMessage(() => resolveWhen('yesterday', IDS));
    assert.match(msg, /no increment matches "yesterday"/);
    assert.ok(msg.includes(day1morning), msg);
  });
  it('says why an unreadable increment cannot be named', () => {
    const bad = '2026-03-11T000000Z';
    const msg = usageMessage(() => resolveWhen(bad, IDS, { unreadable: new Map([[bad, 'not valid JSON']]) }));
    assert.match(msg, /cannot be read \(not valid JSON\)/);
  });
  it('refuses everything on a backup without increments', () => {
    assert.match(usageMessage(() => resolveWhen('latest', [])), /no readable increment/);
  });
});

describe('parseWhenTime', () => {
  it('rejects what is not a date', () => {
    for (const s of ['2026-13-01', '2026-02-30', '2026-01-01T25:00', '2026-01-01T', '20260101', '2026-01-01T1200']) {
      assert.equal(parseWhenTime(s), undefined, s);
    }
  });
  it('honours offsets', () => {
    assert.equal(parseWhenTime('2026-01-01T10:00:00+02:00')?.toISOString(), '2026-01-01T08:00:00.999Z');
    assert.equal(parseWhenTime('2026-01-01T10:00:00.250Z')?.toISOString(), '2026-01-01T10:00:00.250Z');
  });
});
