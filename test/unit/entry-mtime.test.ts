import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { secondsFromNs } from '../../src/meta/entry.js';
import { removeDir, tempDir } from '../helpers/tree.js';

test('a restored mtime lands in the same microsecond as the recorded one (never a millisecond early)', (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const file = join(dir, 'f');
  fs.writeFileSync(file, '');
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const cases = [1795633507528000000n, 1795633507527999999n, 1795633507000000000n, 1795633507999999999n, 1_000_000_000n, 0n];
  for (let i = 0; i < 3000; i++) cases.push(1795633507n * 1_000_000_000n + BigInt(Math.floor(rand() * 1e9)));
  for (const ns of cases) {
    const s = secondsFromNs(ns.toString());
    fs.utimesSync(file, s, s);
    const got = fs.statSync(file, { bigint: true }).mtimeNs;
    assert.equal(got / 1000n, ns / 1000n, `mtime_ns ${ns} came back as ${got}`);
  }
});

test('secondsFromNs gives the BigInt reckoning\'s double for every form of mtime_ns (digits, negative, under a second, 15 digits of seconds)', () => {
  // The reckoning on BigInts, as secondsFromNs made it for every value before its Number path.
  const reference = (ns: bigint): number => {
    let sec = ns / 1_000_000_000n;
    let frac = ns % 1_000_000_000n;
    if (frac < 0n) {
      sec -= 1n;
      frac += 1_000_000_000n;
    }
    return Number(sec) + Number((frac / 1000n) * 1000n + 500n) / 1e9;
  };
  let seed = 777;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const digits = (n: number): bigint => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(rand() * 10);
    return BigInt(s);
  };
  const cases: bigint[] = [0n, 1n, 999_999_999n, 1_000_000_000n, 1_000_000_001n, -1n, -999_999_999n, -1_000_000_000n, -1_795_633_507_123_456_789n, 999_999_999_999_999_999_999_999n, 10n ** 24n - 1n];
  for (let i = 0; i < 20000; i++) {
    const ns = digits(1 + (i % 24));
    cases.push(ns, -ns);
  }
  for (const ns of cases) assert.equal(secondsFromNs(ns.toString()), reference(ns), `mtime_ns ${ns}`);
});
