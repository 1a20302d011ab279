import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseIdFor, compareIds, isIncrementId, timeOfId, withSuffix } from '../../src/store/ids.js';

describe('increment ids', () => {
  it('baseIdFor is the UTC start second without separators', () => {
    assert.equal(baseIdFor(new Date('2026-11-25T16:38:59.123Z')), '2026-11-25T163859Z');
    assert.equal(baseIdFor(new Date('2026-01-02T03:04:05.999Z')), '2026-01-02T030405Z');
    assert.equal(baseIdFor(new Date('2026-01-02T03:04:05Z')), '2026-01-02T030405Z');
  });

  it('baseIdFor uses UTC whatever the local time zone', () => {
    // A Date built from local components still maps to its UTC second.
    const d = new Date(Date.UTC(2026, 11, 31, 23, 59, 58, 1));
    assert.equal(baseIdFor(d), '2026-12-31T235958Z');
  });

  it('withSuffix: the first id has no suffix, then -2, -3…', () => {
    assert.equal(withSuffix('2026-11-25T163859Z', 1), '2026-11-25T163859Z');
    assert.equal(withSuffix('2026-11-25T163859Z', 2), '2026-11-25T163859Z-2');
    assert.equal(withSuffix('2026-11-25T163859Z', 10), '2026-11-25T163859Z-10');
  });

  it('isIncrementId accepts ids and suffixed ids only', () => {
    for (const ok of ['2026-11-25T163859Z', '2026-11-25T163859Z-2', '2026-11-25T163859Z-10']) assert.equal(isIncrementId(ok), true, ok);
    for (const bad of ['2026-11-25T16:38:59Z', '2026-11-25T163859', '2026-11-25T163859Z-', '2026-11-25T163859Z-x', 'latest', '.tmp-2026-11-25T163859Z', '']) {
      assert.equal(isIncrementId(bad), false, bad);
    }
  });

  it('timeOfId ignores the suffix', () => {
    assert.equal(timeOfId('2026-11-25T163859Z')?.toISOString(), '2026-11-25T16:38:59.000Z');
    assert.equal(timeOfId('2026-11-25T163859Z-7')?.toISOString(), '2026-11-25T16:38:59.000Z');
    assert.equal(timeOfId('nope'), undefined);
  });

  it('…Z-10 sorts after …Z-9, and …Z before …Z-2', () => {
    const b = '2026-11-25T163859Z';
    assert.ok(compareIds(`${b}-10`, `${b}-9`) > 0);
    assert.ok(compareIds(`${b}-9`, `${b}-10`) < 0);
    assert.ok(compareIds(b, `${b}-2`) < 0);
    assert.ok(compareIds(`${b}-2`, b) > 0);
    assert.equal(compareIds(`${b}-3`, `${b}-3`), 0);
  });

  it('orders by start time first, then suffix; never plain text', () => {
    const ids = [
      '2026-11-25T163900Z',
      '2026-11-25T163859Z-10',
      '2026-11-25T163859Z',
      '2025-12-31T235959Z-2',
      '2026-11-25T163859Z-9',
      '2026-11-25T163859Z-2',
      '2025-12-31T235959Z',
    ];
    assert.deepEqual([...ids].sort(compareIds), [
      '2025-12-31T235959Z',
      '2025-12-31T235959Z-2',
      '2026-11-25T163859Z',
      '2026-11-25T163859Z-2',
      '2026-11-25T163859Z-9',
      '2026-11-25T163859Z-10',
      '2026-11-25T163900Z',
    ]);
    // Plain text order would put -10 before -9 and -2: prove the difference matters.
    assert.notDeepEqual([...ids].sort(), [...ids].sort(compareIds));
  });
});
