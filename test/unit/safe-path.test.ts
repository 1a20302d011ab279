import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSameOrInside, pathUnder } from '../../src/meta/safe-path.js';

/** The one containment test (config: src inside dist; restore: the target and the backup). */
test('isSameOrInside: the same folder and folders below it, never a sibling that shares a prefix', () => {
  assert.equal(isSameOrInside('/a/b', '/a/b'), true);
  assert.equal(isSameOrInside('/a/b/c/d', '/a/b'), true);
  assert.equal(isSameOrInside('/a/b/', '/a/b'), true, 'a trailing slash is the same folder');
  assert.equal(isSameOrInside('/a/bc', '/a/b'), false, 'a name that only starts alike');
  assert.equal(isSameOrInside('/a', '/a/b'), false, 'the parent is not inside');
  assert.equal(isSameOrInside('/a/b/../c', '/a/b'), false, 'normalised before comparing');
  assert.equal(isSameOrInside('/a/..b/x', '/a'), true, 'a name starting with two dots is a name');
  assert.equal(isSameOrInside('/', '/a'), false);
  assert.equal(isSameOrInside('/a', '/'), true);
});

test('pathUnder joins a relative path under a folder with one slash, the root folder included', () => {
  assert.equal(pathUnder('/home/me/src', 'a/b.txt'), '/home/me/src/a/b.txt');
  assert.equal(pathUnder('/home/me/src/', 'a'), '/home/me/src/a');
  assert.equal(pathUnder('/', 'etc/x'), '/etc/x');
});
