import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { changeReason, type ChangeReason } from '../../src/plan/compare.js';
import type { Entry } from '../../src/meta/entry.js';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function file(over: Partial<Entry> = {}): Entry {
  return { path: 'd/f.txt', type: 'file', size: 12, mtime_ns: '1700000000123456789', mode: 0o644, uid: 1000, gid: 1000, tracked: true, sha256: SHA_A, ...over };
}
function dir(over: Partial<Entry> = {}): Entry {
  return { path: 'd', type: 'dir', size: 0, mtime_ns: '1700000000000000000', mode: 0o755, uid: 1000, gid: 1000, tracked: true, ...over };
}
function link(over: Partial<Entry> = {}): Entry {
  return { path: 'd/l', type: 'symlink', size: 0, mtime_ns: '1700000000000000000', mode: 0o777, uid: 1000, gid: 1000, tracked: true, target: '../x', ...over };
}

interface Case {
  name: string;
  prev: Entry;
  cur: Entry;
  checksum: boolean;
  want: ChangeReason | undefined;
}

const cases: Case[] = [
  { name: 'identical file', prev: file(), cur: file(), checksum: false, want: undefined },
  { name: 'identical file, checksum on, same sha', prev: file(), cur: file(), checksum: true, want: undefined },
  { name: 'same content, new mtime', prev: file(), cur: file({ mtime_ns: '1700000000123456790' }), checksum: false, want: 'mtime' },
  { name: 'mtime differs only in the nanoseconds', prev: file(), cur: file({ mtime_ns: '1700000000123456788' }), checksum: false, want: 'mtime' },
  { name: 'mode only', prev: file(), cur: file({ mode: 0o600 }), checksum: false, want: 'mode' },
  { name: 'size differs', prev: file(), cur: file({ size: 13 }), checksum: false, want: 'size' },
  { name: 'same size new content, no checksum: unchanged', prev: file(), cur: file({ sha256: SHA_B }), checksum: false, want: undefined },
  { name: 'same size new content, checksum', prev: file(), cur: file({ sha256: SHA_B }), checksum: true, want: 'content' },
  { name: 'checksum on but the current hash unknown: metadata decides', prev: file(), cur: file({ sha256: undefined }), checksum: true, want: undefined },
  { name: 'owner change alone is not a change (SPEC §3 lists type, size, mtime, mode)', prev: file(), cur: file({ uid: 0, gid: 0 }), checksum: false, want: undefined },
  { name: 'tracked → untracked file', prev: file(), cur: file({ tracked: false }), checksum: false, want: 'tracked' },
  { name: 'untracked → tracked file', prev: file({ tracked: false }), cur: file(), checksum: false, want: 'tracked' },
  { name: 'tracked flip wins over other reasons', prev: file(), cur: file({ tracked: false, size: 1 }), checksum: false, want: 'tracked' },
  { name: 'folder mtime only: no change', prev: dir(), cur: dir({ mtime_ns: '1800000000000000000' }), checksum: false, want: undefined },
  { name: 'folder mtime only with checksum: no change', prev: dir(), cur: dir({ mtime_ns: '1800000000000000000' }), checksum: true, want: undefined },
  { name: 'folder mode change', prev: dir(), cur: dir({ mode: 0o700 }), checksum: false, want: 'mode' },
  { name: 'folder tracked flip', prev: dir({ tracked: false }), cur: dir(), checksum: false, want: 'tracked' },
  { name: 'symlink retarget', prev: link(), cur: link({ target: '../y' }), checksum: false, want: 'target' },
  { name: 'symlink same target, new mtime: no change', prev: link(), cur: link({ mtime_ns: '1800000000000000000' }), checksum: false, want: undefined },
  { name: 'symlink tracked flip', prev: link(), cur: link({ tracked: false }), checksum: false, want: 'tracked' },
];

describe('changeReason (the change predicate, SPEC §3)', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(changeReason(c.prev, c.cur, { checksum: c.checksum }), c.want);
    });
  }
});
