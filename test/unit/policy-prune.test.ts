import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPolicy } from '../../src/policy/prune.js';
import type { KeepPolicy } from '../../src/config/profiles.js';

process.env.TZ = 'UTC';

const at = (iso: string) => ({ id: iso.replace(/[-:]/g, '').replace(/^(\d{4})(\d{2})(\d{2})T/, '$1-$2-$3T').replace(/\.\d+/, ''), time: new Date(iso) });

/** Golden cases: increment times in, kept ids (with reasons) out. */
const cases: { name: string; times: string[]; policy: KeepPolicy; kept: Record<string, string[]> }[] = [
  {
    name: 'keep-last 2 keeps the two newest',
    times: ['2026-01-01T10:00:00Z', '2026-01-02T10:00:00Z', '2026-01-03T10:00:00Z'],
    policy: { last: 2 },
    kept: { '2026-01-03T100000Z': ['newest', 'last'], '2026-01-02T100000Z': ['last'] },
  },
  {
    name: 'keep-daily keeps the newest of each of the last N days that have increments',
    times: ['2026-01-01T08:00:00Z', '2026-01-01T20:00:00Z', '2026-01-02T09:00:00Z', '2026-01-05T07:00:00Z', '2026-01-05T23:00:00Z'],
    policy: { daily: 2 },
    kept: { '2026-01-05T230000Z': ['newest', 'daily 2026-01-05'], '2026-01-02T090000Z': ['daily 2026-01-02'] },
  },
  {
    name: 'weekly buckets are ISO weeks (2026-01-04 is a Sunday of week 1, 2026-01-05 starts week 2)',
    times: ['2026-01-04T12:00:00Z', '2026-01-05T12:00:00Z', '2026-01-11T12:00:00Z'],
    policy: { weekly: 5 },
    kept: { '2026-01-11T120000Z': ['newest', 'weekly 2026-W02'], '2026-01-04T120000Z': ['weekly 2026-W01'] },
  },
  {
    name: 'policies combine; monthly and yearly',
    times: ['2024-06-01T00:00:00Z', '2025-03-01T00:00:00Z', '2025-03-15T00:00:00Z', '2026-02-01T00:00:00Z'],
    policy: { monthly: 2, yearly: 3 },
    kept: {
      '2026-02-01T000000Z': ['newest', 'monthly 2026-02', 'yearly 2026'],
      '2025-03-15T000000Z': ['monthly 2025-03', 'yearly 2025'],
      '2024-06-01T000000Z': ['yearly 2024'],
    },
  },
  {
    name: 'hourly',
    times: ['2026-01-01T10:05:00Z', '2026-01-01T10:55:00Z', '2026-01-01T11:10:00Z'],
    policy: { hourly: 1 },
    kept: { '2026-01-01T111000Z': ['newest', 'hourly 2026-01-01 11h'] },
  },
  {
    name: 'the newest is always kept, even by a policy that keeps nothing else',
    times: ['2026-01-01T10:00:00Z', '2026-01-02T10:00:00Z'],
    policy: { last: 0, daily: 0 },
    kept: { '2026-01-02T100000Z': ['newest'] },
  },
];

for (const c of cases) {
  test(`policy: ${c.name}`, () => {
    const decisions = applyPolicy(c.times.map(at), c.policy);
    assert.equal(decisions.length, c.times.length);
    const kept = Object.fromEntries(decisions.filter((d) => d.keep).map((d) => [d.id, d.reasons]));
    assert.deepEqual(kept, c.kept);
    for (const d of decisions) assert.equal(d.keep, d.reasons.length > 0, `${d.id}: keep iff it has a reason`);
  });
}

test('policy: input order does not matter; decisions come newest first', () => {
  const times = ['2026-01-03T10:00:00Z', '2026-01-01T10:00:00Z', '2026-01-02T10:00:00Z'].map(at);
  const d = applyPolicy(times, { last: 1 });
  assert.deepEqual(d.map((x) => x.id), ['2026-01-03T100000Z', '2026-01-02T100000Z', '2026-01-01T100000Z']);
  assert.deepEqual(d.map((x) => x.keep), [true, false, false]);
});
