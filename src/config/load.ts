/**
 * Finding and loading the config file (SPEC §1). The entry point for the rest of hardback:
 * findConfigFile → loadConfig → selectProfiles. Every problem is a configError (exit 2), raised
 * before anything is touched.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { configError, errorCode, errorMessage } from '../io/errors.js';
import { JsonSyntaxError, parseJson } from './json.js';
import { resolveProfiles, type Profile } from './profiles.js';
import { validateConfig } from './validate.js';

export type { KeepPolicy, Profile, SelectionRules } from './profiles.js';
export { selectProfiles } from './profiles.js';

export const CONFIG_FILE_NAME = 'config.json';

/**
 * The config file to use: `explicit` resolved against `cwd` (its existence is checked by
 * loadConfig), else cwd/config.json, else programDir/config.json. Returns an absolute path.
 */
export function findConfigFile(opts: { explicit?: string; cwd: string; programDir: string }): string {
  if (opts.explicit !== undefined) return path.resolve(opts.cwd, opts.explicit);
  const tried: string[] = [];
  for (const dir of [opts.cwd, opts.programDir]) {
    const candidate = path.resolve(opts.cwd, dir, CONFIG_FILE_NAME);
    if (tried.includes(candidate)) continue;
    tried.push(candidate);
    if (existsAsFile(candidate)) return candidate;
  }
  throw configError(
    `no config file: tried ${tried.join(' and ')}`,
    `create ${CONFIG_FILE_NAME} there, or name the config file: backup path/to/config.json`,
  );
}

/**
 * Reads, parses and validates a config file and returns its profiles in file order, defaults
 * merged and paths resolved. `file` is named in messages as given. `home` replaces os.homedir()
 * for "~" (tests).
 */
export function loadConfig(file: string, opts: { home?: string } = {}): Profile[] {
  const text = readConfigText(file);
  let value: unknown;
  try {
    value = parseJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw configError(`${file}:${err.line}:${err.column}: invalid JSON: ${err.message}`);
    throw err;
  }
  return resolveProfiles(validateConfig(value, file), file, opts);
}

function readConfigText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    switch (errorCode(err)) {
      case 'ENOENT':
        throw configError(`${file}: config file not found`);
      case 'EISDIR':
        throw configError(`${file}: is a folder, not a config file`);
      case 'EACCES':
      case 'EPERM':
        throw configError(`${file}: cannot read config file: permission denied`);
      default:
        throw configError(`${file}: cannot read config file: ${errorMessage(err)}`);
    }
  }
  try {
    // fatal: a mis-encoded file is refused rather than read with replacement characters in its paths.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw configError(`${file}: not valid UTF-8 text`, 'save the file as UTF-8');
  }
}

function existsAsFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch (err) {
    // Present but unreadable counts as found, so loadConfig reports why it cannot be read.
    return !(errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR');
  }
}
