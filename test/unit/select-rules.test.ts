import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSelection, type SelectionRules, type Selector } from '../../src/select/rules.js';

type Row = [path: string, expected: boolean];

function rows(name: string, rules: SelectionRules, ask: (s: Selector, path: string) => boolean, table: readonly Row[]): void {
  const s = compileSelection(rules);
  for (const [path, expected] of table) {
    assert.equal(ask(s, path), expected, `${name} ${JSON.stringify(path)} with ${JSON.stringify(rules)}`);
  }
}

const enter = (s: Selector, p: string): boolean => s.enterDir(p);
const dirIn = (s: Selector, p: string): boolean => s.dirIncluded(p);
const fileIn = (s: Selector, p: string): boolean => s.fileIncluded(p);
const dirTracked = (s: Selector, p: string): boolean => s.isTracked(p, true);
const fileTracked = (s: Selector, p: string): boolean => s.isTracked(p, false);

/** The seed configuration of SPEC §1. */
const SEED: SelectionRules = {
  include_dirs: ['Projects', 'Notes'],
  track_dirs: ['Projects'],
  include_files: ['todo.txt', 'readme.md'],
  track_files: ['todo.txt'],
  exclude_dirs: ['Temp', 'Cache'],
  exclude_files: ['*.log', '*.tmp'],
};

test('seed config: which directories are walked', () => {
  rows('enterDir', SEED, enter, [
    ['Projects', true],
    ['Notes', true],
    ['Projects/sub', true],
    ['Projects/sub/deeper', true],
    ['Other', false],
    ['Temp', false],
    ['Cache', false],
    ['Projects/Temp', false],
    ['Notes/Cache', false],
    ['Projects/Cache/x', false],
    ['Projects/Temporary', true],
  ]);
});

test('seed config: which directories are included by themselves', () => {
  rows('dirIncluded', SEED, dirIn, [
    ['Projects', true],
    ['Projects/sub', true],
    ['Notes', true],
    ['Other', false],
    ['Projects2', false],
    ['Other/Projects', false],
    ['Projects/Temp', false],
    ['Projects/Temp/x', false],
  ]);
});

test('seed config: which files are included', () => {
  rows('fileIncluded', SEED, fileIn, [
    ['todo.txt', true],
    ['readme.md', true],
    ['other.txt', false],
    ['Other/todo.txt', false],
    ['Projects/a.txt', true],
    ['Projects/sub/b.txt', true],
    ['Notes/n.md', true],
    ['Notes/todo.txt', true],
    ['Projects/x.log', false],
    ['Projects/a.tmp', false],
    ['Notes/deep/er/x.log', false],
    ['Projects/Temp/a.txt', false],
    ['Projects/sub/Cache/x.txt', false],
    ['Temp/todo.txt', false],
    // exclude_dirs applies to directories only; include_dirs includes what is below a match
    ['Projects/Temp', true],
    ['Projects', false],
    ['Projects/a.log.txt', true],
  ]);
});

test('seed config: which included entries are tracked', () => {
  rows('isTracked(file)', SEED, fileTracked, [
    ['Projects/a.txt', true],
    ['Projects/sub/b.txt', true],
    ['todo.txt', true],
    ['readme.md', false],
    ['Notes/n.md', false],
    ['Notes/todo.txt', false],
    ['Projects', false],
  ]);
  rows('isTracked(dir)', SEED, dirTracked, [
    ['Projects', true],
    ['Projects/sub', true],
    ['Notes', false],
    ['Notes/sub', false],
  ]);
});

test('no include rules, or both empty: everything is included', () => {
  for (const rules of [{}, { include_dirs: [], include_files: [] }, { include_dirs: [] }, { exclude_dirs: ['Temp'] }] as SelectionRules[]) {
    rows('enterDir', rules, enter, [
      ['a', true],
      ['a/b/c', true],
    ]);
    rows('dirIncluded', rules, dirIn, [
      ['a', true],
      ['a/b/c', true],
    ]);
    rows('fileIncluded', rules, fileIn, [
      ['x', true],
      ['a/b/x.log', true],
    ]);
  }
  rows('enterDir', { exclude_dirs: ['Temp'] }, enter, [['a/Temp', false]]);
});

test('include_files only: walk just the directories that can lead to a match', () => {
  const docs: SelectionRules = { include_files: ['docs/*.md'] };
  rows('enterDir', docs, enter, [
    ['docs', true],
    ['src', false],
    ['docs/sub', false],
  ]);
  rows('dirIncluded', docs, dirIn, [['docs', false]]);
  rows('fileIncluded', docs, fileIn, [
    ['docs/a.md', true],
    ['docs/a.txt', false],
    ['docs/sub/a.md', false],
    ['a.md', false],
  ]);
  const anyMd: SelectionRules = { include_files: ['**/*.md'] };
  rows('enterDir', anyMd, enter, [
    ['anything', true],
    ['a/b/c', true],
  ]);
  rows('fileIncluded', anyMd, fileIn, [
    ['a.md', true],
    ['a/b/c.md', true],
    ['a/b/c.txt', false],
  ]);
});

test('include_dirs below the top: enter only the directories on the way', () => {
  const sub: SelectionRules = { include_dirs: ['Projects/sub'] };
  rows('enterDir', sub, enter, [
    ['Projects', true],
    ['Notes', false],
    ['Projects/sub', true],
    ['Projects/sub/deep', true],
    ['Projects/other', false],
  ]);
  rows('dirIncluded', sub, dirIn, [
    ['Projects', false],
    ['Projects/sub', true],
    ['Projects/sub/deep', true],
  ]);
  rows('fileIncluded', sub, fileIn, [
    ['Projects/a.txt', false],
    ['Projects/sub/a.txt', true],
    ['Projects/sub/deep/a.txt', true],
  ]);
  const globbed: SelectionRules = { include_dirs: ['*/src'] };
  rows('enterDir', globbed, enter, [
    ['a', true],
    ['a/src', true],
    ['a/lib', false],
  ]);
  rows('fileIncluded', globbed, fileIn, [
    ['a/src/x.ts', true],
    ['a/x.ts', false],
  ]);
});

test('exclusion beats inclusion', () => {
  const both: SelectionRules = { include_dirs: ['Projects'], exclude_dirs: ['Projects'], include_files: ['x.log'], exclude_files: ['*.log'] };
  rows('enterDir', both, enter, [['Projects', false]]);
  rows('dirIncluded', both, dirIn, [['Projects', false]]);
  rows('fileIncluded', both, fileIn, [
    ['Projects/a.txt', false],
    ['x.log', false],
  ]);
});

test('exclude patterns with / match the path; without / a name at any depth', () => {
  const rules: SelectionRules = { exclude_dirs: ['Projects/build', '/Temp', '**/node_modules', 'Cache/'], exclude_files: ['Projects/*.tmp'] };
  rows('enterDir', rules, enter, [
    ['Projects/build', false],
    ['Other/build', true],
    ['Projects/x/build', true],
    ['Temp', false],
    ['a/Temp', true],
    ['node_modules', false],
    ['a/b/node_modules', false],
    ['Cache', false],
    ['a/Cache', false],
  ]);
  rows('fileIncluded', rules, fileIn, [
    ['Projects/a.tmp', false],
    ['Projects/sub/a.tmp', true],
    ['a.tmp', true],
    ['Projects/build/x', false],
    ['a/b/node_modules/x/y.js', false],
    ['a/Cache/x', false],
    ['a/Temp/x', true],
  ]);
});

test('exclude_files does not exclude directories, exclude_dirs does not exclude files', () => {
  const rules: SelectionRules = { exclude_dirs: ['Temp'], exclude_files: ['*.log'] };
  rows('enterDir', rules, enter, [['logs.log', true]]);
  rows('dirIncluded', rules, dirIn, [['logs.log', true]]);
  rows('fileIncluded', rules, fileIn, [
    ['Temp', true],
    ['logs.log/a.txt', true],
  ]);
});

test('track keys: absent → all tracked, given (even []) → only matches', () => {
  rows('isTracked(file)', {}, fileTracked, [
    ['a', true],
    ['a/b/c', true],
  ]);
  rows('isTracked(dir)', {}, dirTracked, [['a', true]]);
  for (const rules of [{ track_dirs: [] }, { track_files: [] }, { track_dirs: [], track_files: [] }] as SelectionRules[]) {
    rows('isTracked(file)', rules, fileTracked, [
      ['a', false],
      ['a/b/c', false],
    ]);
    rows('isTracked(dir)', rules, dirTracked, [['a', false]]);
  }
  const md: SelectionRules = { track_files: ['*.md'] };
  rows('isTracked(file)', md, fileTracked, [
    ['a.md', true],
    ['docs/a.md', false],
  ]);
  rows('isTracked(dir)', md, dirTracked, [['docs', false]]);
  const deep: SelectionRules = { track_dirs: ['**/keep'] };
  rows('isTracked(file)', deep, fileTracked, [
    ['a/keep/x', true],
    ['keep/x/y', true],
    ['keep', false],
    ['a/x', false],
  ]);
});

test('names with spaces, unicode and glob characters', () => {
  const rules: SelectionRules = {
    include_dirs: ['My Projects/Ünï 2024', '\\[old]', 'a+b (1)'],
    exclude_dirs: ['[Cc]ache'],
    exclude_files: ['~$*'],
  };
  rows('enterDir', rules, enter, [
    ['My Projects', true],
    ['My Projects/Ünï 2024', true],
    ['My Projects/Uni 2024', false],
    ['[old]', true],
    ['o', false],
    ['a+b (1)', true],
    ['aab (1)', false],
    ['a+b (1)/cache', false],
    ['a+b (1)/Cache', false],
  ]);
  rows('fileIncluded', rules, fileIn, [
    ['My Projects/Ünï 2024/[v1] plan.txt', true],
    ['My Projects/Ünï 2024/~$plan.docx', false],
    ['[old]/日本語 ファイル.txt', true],
    ['a+b (1)/x', true],
    ['a+b (1)/cache/x', false],
  ]);
});

test("include_dirs '.' names src itself", () => {
  rows('dirIncluded', { include_dirs: ['.'], include_files: ['x'] }, dirIn, [
    ['a', true],
    ['a/b', true],
  ]);
  rows('fileIncluded', { include_dirs: ['.'], include_files: ['x'] }, fileIn, [['a/b', true]]);
});
