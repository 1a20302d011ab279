import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileCouldMatchBelow,
  compileGlob,
  compileGlobs,
  compileNameGlobs,
  couldMatchBelow,
  isNamePattern,
  type GlobScope,
} from '../../src/select/glob.js';
import { makeRng } from '../helpers/model.js';

type Row = [pattern: string, path: string, expected: boolean];

function check(rows: readonly Row[], scope: GlobScope = 'exact'): void {
  for (const [pattern, path, expected] of rows) {
    assert.equal(compileGlob(pattern, scope)(path), expected, `${scope} ${JSON.stringify(pattern)} vs ${JSON.stringify(path)}`);
  }
}

test('literal patterns match the whole path, case-sensitively', () => {
  check([
    ['Projects', 'Projects', true],
    ['Projects', 'projects', false],
    ['Projects', 'Projects/a.txt', false],
    ['Projects', 'Notes/Projects', false],
    ['Projects', 'ProjectsX', false],
    ['todo.txt', 'todo.txt', true],
    ['todo.txt', 'Projects/todo.txt', false],
    ['Projects/sub', 'Projects/sub', true],
    ['Projects/sub', 'Projects/sub/x', false],
  ]);
});

test('* matches within one name only', () => {
  check([
    ['*.log', 'a.log', true],
    ['*.log', '.log', true],
    ['*.log', '.hidden.log', true],
    ['*.log', 'a.log.gz', false],
    ['*.log', 'd/a.log', false],
    ['a*b', 'ab', true],
    ['a*b', 'axxb', true],
    ['a*b', 'a/b', false],
    ['d/*', 'd/x', true],
    ['d/*', 'd/x/y', false],
    ['*/x', 'a/x', true],
    ['*/x', 'x', false],
    ['*', 'anything at all', true],
    ['*', 'a/b', false],
    ['*', 'line\nbreak', true],
    ['a**b', 'axb', true],
    ['a**b', 'a/b', false],
  ]);
});

test('** as a whole segment matches zero or more names', () => {
  check([
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/x/y/c', false],
    ['a/**/b', 'b', false],
    ['a/**/b', 'xa/b', false],
    ['a/**/b', 'a/b/c', false],
    ['**/*.txt', 'x.txt', true],
    ['**/*.txt', 'd/e/x.txt', true],
    ['**/*.txt', 'd/e/x.txt/f', false],
    ['**/*.txt', 'd/e/x.md', false],
    ['a/**', 'a', false],
    ['a/**', 'a/x', true],
    ['a/**', 'a/x/y', true],
    ['a/**', 'b/x', false],
    ['a/**', 'ab/x', false],
    ['**', 'a', true],
    ['**', 'a/b/c', true],
    ['**/b/**', 'b/x', true],
    ['**/b/**', 'a/b/x/y', true],
    ['**/b/**', 'a/b', false],
    ['a/**/**/b', 'a/b', true],
    ['a/**/**/b', 'a/x/y/b', true],
    ['a/**/b/**/c', 'a/b/c', true],
    ['a/**/b/**/c', 'a/1/b/2/3/c', true],
    ['a/**/b/**/c', 'a/1/c', false],
  ]);
});

test('? matches one character (code point), never /', () => {
  check([
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['?.txt', '.txt', false],
    ['a?b', 'a/b', false],
    ['?', 'é', true],
    ['?', '😀', true],
    ['??', '😀', false],
  ]);
});

test('character sets', () => {
  check([
    ['[abc].txt', 'b.txt', true],
    ['[abc].txt', 'd.txt', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[!a]x', 'bx', true],
    ['[!a]x', 'ax', false],
    ['[^a]x', 'bx', true],
    ['[^a]x', 'ax', false],
    ['a[!x]b', 'a/b', false],
    // a range that spans `/` (`+` to `0`) still never matches it
    ['a[+-0]b', 'a/b', false],
    ['a[+-0]b', 'a.b', true],
    ['[]]', ']', true],
    ['[]]', 'a', false],
    ['[!]]', 'a', true],
    ['[!]]', ']', false],
    ['[a-]', '-', true],
    ['[a\\-z]', '-', true],
    ['[a\\-z]', 'b', false],
    ['[\\]]', ']', true],
    ['[ä-ü]', 'ö', true],
    ['[ä-ü]', 'a', false],
    ['[😀x]', '😀', true],
    ['x[z-a]', 'xm', false],
    ['[Cc]ache', 'cache', true],
    ['[Cc]ache', 'Cache', true],
    ['[Cc]ache', 'CACHE', false],
    // not a set: unclosed, or containing `/`
    ['[abc', '[abc', true],
    ['[abc', 'a', false],
    ['[a/b]', '[a/b]', true],
    ['[a/b]', 'a', false],
  ]);
});

test('backslash escapes the next character; regex syntax is literal', () => {
  check([
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['a\\?', 'a?', true],
    ['a\\?', 'ab', false],
    ['\\[draft]', '[draft]', true],
    ['\\[draft]', 'd', false],
    ['[draft]', 'd', true],
    ['[draft]', '[draft]', false],
    ['a\\\\b', 'a\\b', true],
    ['\\**', '*tail', true],
    ['\\**', 'tail', false],
    ['\\*\\*/x', '**/x', true],
    ['\\*\\*/x', 'a/x', false],
    ['a\\', 'a\\', true],
    ['a\\/b', 'a/b', true],
    ['a.b', 'a.b', true],
    ['a.b', 'axb', false],
    ['(x)+', '(x)+', true],
    ['(x)+', 'xx', false],
    ['a|b', 'a', false],
    ['a|b', 'a|b', true],
    ['$^', '$^', true],
    ['{a,b}', '{a,b}', true],
    ['{a,b}', 'a', false],
  ]);
});

test('names with spaces, unicode and brackets', () => {
  check([
    ['My Documents/*.txt', 'My Documents/a b.txt', true],
    ['My Documents/*.txt', 'My  Documents/a.txt', false],
    ['Fotos/Ürlaub 2024/*', 'Fotos/Ürlaub 2024/bild 1.jpg', true],
    ['Fotos/Ürlaub 2024/*', 'Fotos/Urlaub 2024/bild 1.jpg', false],
    ['日本/*.md', '日本/メモ.md', true],
    ['*.md', '日本/x.md', false],
    ['Projects/*', 'Projects/[draft] notes.txt', true],
    ['Projects/\\[draft] notes.txt', 'Projects/[draft] notes.txt', true],
  ]);
});

test('normalization: leading /, ./, trailing / and empty segments', () => {
  check([
    ['Projects/', 'Projects', true],
    ['/Projects', 'Projects', true],
    ['./Projects', 'Projects', true],
    ['a//b', 'a/b', true],
    ['a/./b', 'a/b', true],
    ['.', '', true],
    ['', '', true],
    ['.', 'a', false],
  ]);
});

test("scope 'within' accepts a match and everything below it", () => {
  check(
    [
      ['Projects', 'Projects', true],
      ['Projects', 'Projects/a/b', true],
      ['Projects', 'ProjectsX', false],
      ['Projects', 'ProjectsX/a', false],
      ['Projects', 'Notes/Projects', false],
      ['a/*/c', 'a/b/c/d', true],
      ['a/*/c', 'a/b', false],
      ['**/build', 'x/y/build/z', true],
      ['.', 'anything/at/all', true],
    ],
    'within',
  );
});

test("scope 'below' accepts only what lies strictly below a match", () => {
  check(
    [
      ['Projects', 'Projects', false],
      ['Projects', 'Projects/a', true],
      ['Projects', 'Projects/a/b', true],
      ['Projects', 'Notes/a', false],
      ['a/**', 'a/x', false],
      ['a/**', 'a/x/y', true],
      ['.', 'a', true],
      ['.', '', false],
    ],
    'below',
  );
});

test('compileGlobs: any of several patterns; none matches nothing', () => {
  const t = compileGlobs(['todo.txt', 'readme.md', 'docs/*.md']);
  assert.equal(t('todo.txt'), true);
  assert.equal(t('readme.md'), true);
  assert.equal(t('docs/a.md'), true);
  assert.equal(t('docs/a.txt'), false);
  assert.equal(t('Projects/todo.txt'), false);
  assert.equal(compileGlobs([])('x'), false);
  assert.equal(compileGlobs([], 'within')('x'), false);
});

test('compileNameGlobs matches names at any depth', () => {
  const rows: [string[], 'exact' | 'within' | 'below', string, boolean][] = [
    [['*.log', '*.tmp'], 'exact', 'x.log', true],
    [['*.log', '*.tmp'], 'exact', 'a/b/x.tmp', true],
    [['*.log', '*.tmp'], 'exact', 'x.log/y', false],
    [['*.log', '*.tmp'], 'exact', 'a/x.txt', false],
    [['Temp', 'Cache'], 'within', 'Temp', true],
    [['Temp', 'Cache'], 'within', 'a/Temp', true],
    [['Temp', 'Cache'], 'within', 'a/Cache/b', true],
    [['Temp', 'Cache'], 'within', 'a/Temps', false],
    [['Temp', 'Cache'], 'within', 'a/MyTemp/b', false],
    [['Temp', 'Cache'], 'below', 'a/Temp', false],
    [['Temp', 'Cache'], 'below', 'a/Temp/x', true],
    [['Temp/'], 'within', 'x/Temp', true],
    [['Te*'], 'below', 'Tex/x', true],
    [['**'], 'exact', 'a/b', true],
    [['.'], 'within', 'a/b', false],
    [[], 'within', 'a', false],
    [['a[+-0]b'], 'exact', 'a/b', false],
    [['a[+-0]b'], 'within', 'a/b', false],
    [['a[+-0]b'], 'below', 'x/a/b/c', false],
    [['a[+-0]b'], 'within', 'x/a,b/c', true],
  ];
  for (const [patterns, scope, path, expected] of rows) {
    assert.equal(compileNameGlobs(patterns, scope)(path), expected, `${scope} ${patterns.join(',')} vs ${path}`);
  }
  assert.throws(() => compileNameGlobs(['a/b']), RangeError);
});

test('compileNameGlobs: a name pattern tested on each name, as compileGlob tests one name (seeded)', () => {
  // Scope 'exact' tests the last name, 'within' any name, 'below' any name but the last.
  const rng = makeRng(2611);
  const pick = (xs: string) => xs[Math.floor(rng() * xs.length)] as string;
  const SETS = ['[ab]', '[!a]', '[+-0]', '[a-c]', '\\*'];
  const piece = () => pick('ab.+,0*?') + (rng() < 0.15 ? (SETS[Math.floor(rng() * SETS.length)] as string) : '');
  for (let i = 0; i < 3000; i++) {
    const pattern = Array.from({ length: 1 + Math.floor(rng() * 4) }, piece).join('');
    // A path as the state holds them: names of one to three characters, none empty.
    const names = Array.from({ length: 1 + Math.floor(rng() * 3) }, () => Array.from({ length: 1 + Math.floor(rng() * 3) }, () => pick('ab.+,0')).join(''));
    const path = names.join('/');
    const one = compileGlob(pattern);
    const expect = { exact: one(names[names.length - 1] as string), within: names.some(one), below: names.slice(0, -1).some(one) };
    for (const scope of ['exact', 'within', 'below'] as const) {
      assert.equal(compileNameGlobs([pattern], scope)(path), expect[scope], `${scope} ${JSON.stringify(pattern)} vs ${JSON.stringify(path)}`);
    }
  }
});

test('isNamePattern', () => {
  const rows: [string, boolean][] = [
    ['Temp', true],
    ['Temp/', true],
    ['*.log', true],
    ['a/Temp', false],
    ['/Temp', false],
    ['./Temp', false],
    ['**/Temp', false],
  ];
  for (const [pattern, expected] of rows) assert.equal(isNamePattern(pattern), expected, pattern);
});

test('couldMatchBelow: can a path strictly below the directory match?', () => {
  const rows: Row[] = [
    ['Projects/sub', 'Projects', true],
    ['Projects/sub', 'Notes', false],
    ['Projects/sub', 'Projects/sub', false],
    ['Projects/sub', 'Projects/other', false],
    ['Projects/sub', '', true],
    ['Projects', 'Projects', false],
    ['todo.txt', 'Projects', false],
    ['**/*.md', 'anything', true],
    ['**/*.md', 'a/b/c', true],
    ['docs/*.md', 'docs', true],
    ['docs/*.md', 'src', false],
    ['docs/*.md', 'docs/sub', false],
    ['a/**', 'a', true],
    ['a/**', 'a/x/y', true],
    ['a/**', 'b', false],
    ['a/**/b', 'a', true],
    ['a/**/b', 'a/x/y', true],
    ['a/**/b', 'c', false],
    ['x/**/y/z', 'x/q/y', true],
    ['x/**/y/z', 'x/q/y/z', true],
    ['*/x', 'anything', true],
    ['*/x', 'a/b', false],
    ['[ab]/x', 'a', true],
    ['[ab]/x', 'c', false],
    ['a/*/c', 'a/b', true],
    ['a/*/c', 'a/b/c', false],
    ['My Projects/Ünï 2024/*', 'My Projects', true],
    ['My Projects/Ünï 2024/*', 'My Projects/Ünï 2024', true],
    ['My Projects/Ünï 2024/*', 'My Projects/Uni 2024', false],
    ['\\[old]/x', '[old]', true],
    ['\\[old]/x', 'o', false],
    ['.', 'a', false],
    ['', '', false],
    ['**', 'a/b', true],
  ];
  for (const [pattern, dir, expected] of rows) {
    assert.equal(couldMatchBelow(pattern, dir), expected, `${JSON.stringify(pattern)} below ${JSON.stringify(dir)}`);
  }
});

test('compileCouldMatchBelow gives the same answers when reused', () => {
  const could = compileCouldMatchBelow('a/**/b/c');
  const rows: [string, boolean][] = [
    ['a', true],
    ['b', false],
    ['a/b/c', true],
    ['a/x/b', true],
    ['x/a', false],
    ['a', true],
  ];
  for (const [dir, expected] of rows) assert.equal(could(dir), expected, dir);
});
