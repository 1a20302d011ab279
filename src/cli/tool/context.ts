import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { Fs } from '../../io/fs.js';
import { failure, usageError } from '../../io/errors.js';
import { findConfigFile, loadConfig, selectProfiles, type Profile } from '../../config/load.js';
import { incrementsSize, readCatalog, readCatalogSharing, type Catalog, type CatalogWant } from '../../store/catalog.js';
import { readIncrementsElsewhere } from './catalog-worker.js';
import { Layout } from '../../store/layout.js';
import { readManifestHeader } from '../../store/manifest.js';
import { timeOfId } from '../../store/ids.js';
import { buildHistory, type History } from '../../restore/state-at.js';
import { resolveWhen } from '../../restore/when.js';
import { localTime } from '../format.js';

/** The streams and places a `backup-tool` run works with (the process's own, or a test's). */
export interface ToolIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable & { isTTY?: boolean };
  cwd: string;
  programDir: string;
  fs: Fs;
  /**
   * The program file, when it can be started as a worker thread (the built bundle): restores copy on
   * two threads, search and recreate read the increments on the second one.
   */
  workerScript?: string;
}

/** One backup, opened for reading. */
export interface ToolContext {
  io: ToolIo;
  dist: string;
  /** The source folder: the profile's src, or the one the backup records when WHERE is a backup folder. */
  src: string | undefined;
  profile: Profile | undefined;
  catalog: Catalog;
  history: History;
}

/** Where a backup is: its folder, and the profile that names it (none when WHERE is the folder). */
export interface BackupPlace {
  dist: string;
  profile: Profile | undefined;
}

/**
 * WHERE (SPEC §4) opened for reading: the backup located (locateBackup), then read as the command
 * wants it.
 */
export async function openBackup(
  io: ToolIo,
  where: string | undefined,
  profileNames: readonly string[],
  want?: (src: string | undefined) => CatalogWant,
): Promise<ToolContext> {
  const { dist, profile } = locateBackup(io, where, profileNames);
  // What the command needs decoded may depend on its PATHs, which may be given inside the source.
  const wanted = want?.(profile?.src ?? readManifestHeader(io.fs, new Layout(dist).manifest)?.source) ?? {};
  if (io.workerScript !== undefined && wanted.recordsSpec !== undefined && incrementsSize(io.fs, dist) >= WORTH_A_THREAD) {
    const early = readIncrementsElsewhere(io.workerScript, dist, wanted.recordsSpec);
    return contextOf(io, dist, profile, await readCatalogSharing(io.fs, dist, wanted, early));
  }
  return contextOf(io, dist, profile, readCatalog(io.fs, dist, wanted));
}

/**
 * WHERE (SPEC §4): a backup folder (it holds .hardback/ or mirror/) or a config file; without it,
 * the config file found as `backup` finds it. A config with several profiles needs `--profile`.
 */
export function locateBackup(io: ToolIo, where: string | undefined, profileNames: readonly string[]): BackupPlace {
  if (profileNames.length > 1) throw usageError('backup-tool works on one backup at a time: give --profile once');
  let dist: string;
  let profile: Profile | undefined;
  const asFolder = where === undefined ? undefined : backupFolderKind(io.fs, resolve(io.cwd, where));
  if (where !== undefined && asFolder === 'backup') {
    if (profileNames.length > 0) throw usageError(`--profile picks a profile of a config file, but ${where} is a backup folder`);
    dist = resolve(io.cwd, where);
  } else {
    if (asFolder === 'folder') {
      throw usageError(`${where}: neither a backup folder (no .hardback/ or mirror/ inside) nor a config file`);
    }
    if (where !== undefined && io.fs.statSync(resolve(io.cwd, where), { throwIfNoEntry: false }) === undefined) {
      throw usageError(`${where} does not exist (WHERE is a backup folder or a config file; is its drive attached?)`);
    }
    const file = findConfigFile({ explicit: where, cwd: io.cwd, programDir: io.programDir });
    const profiles = loadConfig(file);
    if (profiles.length > 1 && profileNames.length === 0) {
      throw usageError(
        `${file} has ${profiles.length} profiles: pick one with --profile NAME (${profiles.map((p) => p.name).join(', ')})`,
      );
    }
    profile = selectProfiles(profiles, [...profileNames])[0];
    if (profile === undefined) throw usageError(`${file}: no profile`);
    dist = profile.dist;
    if (io.fs.statSync(dist, { throwIfNoEntry: false })?.isDirectory() !== true) {
      throw failure(`the backup folder ${dist} (profile "${profile.name}") does not exist: is its drive attached?`);
    }
  }
  return { dist, profile };
}

/** Below this much increment metadata, starting a thread (~40 ms) costs more than it saves. */
const WORTH_A_THREAD = 4 << 20;

/** The backup read again, with everything decoded (when a command finds it needs more). */
export function reopenWhole(ctx: ToolContext): ToolContext {
  return contextOf(ctx.io, ctx.dist, ctx.profile, readCatalog(ctx.io.fs, ctx.dist));
}

function contextOf(io: ToolIo, dist: string, profile: Profile | undefined, catalog: Catalog): ToolContext {
  const history = buildHistory({
    increments: catalog.increments,
    current: catalog.current,
    lastIncrement: catalog.header?.last_increment ?? null,
    since: catalog.since,
  });
  return { io, dist, src: profile?.src ?? catalog.source, profile, catalog, history };
}

/** 'backup' for a backup folder, 'folder' for another folder, undefined for a file or nothing (read as a config file). */
function backupFolderKind(fs: Fs, abs: string): 'backup' | 'folder' | undefined {
  const st = fs.statSync(abs, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory()) return undefined;
  for (const name of ['.hardback', 'mirror']) {
    if (fs.statSync(resolve(abs, name), { throwIfNoEntry: false })?.isDirectory() === true) return 'backup';
  }
  return 'folder';
}

/** An increment id with its local time, as every command shows it. */
export function idWithTime(id: string | undefined): string {
  if (id === undefined) return '(unknown increment)';
  const t = timeOfId(id);
  return t === undefined ? id : `${id} (${localTime(t)})`;
}

export function resolveWhenIn(ctx: ToolContext, when: string, bound: 'start' | 'end' = 'end'): string {
  const unreadable = new Map<string, string>();
  for (const inc of ctx.catalog.increments) if (inc.json === undefined) unreadable.set(inc.id, inc.problem ?? 'unreadable');
  return resolveWhen(when, ctx.history.ids, { unreadable, formatTime: (d) => localTime(d), bound });
}
