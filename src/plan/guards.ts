import type { StateEntry } from '../meta/entry.js';
import type { Plan } from './plan.js';
import { StateTable } from '../store/state-table.js';

export interface GuardInput {
  plan: Plan;
  last: ReadonlyMap<string, StateEntry>;
  /** Names directly inside src. */
  topLevelNames: number;
  recordedSource: string | undefined;
  source: string;
  maxDeleteRatio: number;
  force: boolean;
}

export interface GuardRefusal {
  guard: 'empty-source' | 'mass-delete' | 'wrong-source';
  message: string;
}

export const wrongSourceMessage = (recorded: string, source: string): string =>
  `this backup belongs to ${recorded}, not ${source}; refusing to mix them (use --force to adopt it)`;

/** Fewer deletions than this never trip the mass-deletion guard (SPEC §6). */
export const MASS_DELETE_MIN = 20;

/**
 * The guards of SPEC §6 that --force overrides: a backup of another source, an empty source against
 * a non-empty backup (an unmounted drive's mount point), a run deleting too much of the mirror.
 */
export function checkGuards(g: GuardInput): GuardRefusal | undefined {
  if (g.force) return undefined;
  if (g.recordedSource !== undefined && g.recordedSource !== g.source) {
    return { guard: 'wrong-source', message: wrongSourceMessage(g.recordedSource, g.source) };
  }
  if (g.topLevelNames === 0 && g.last.size > 0) {
    return {
      guard: 'empty-source',
      message: `the source ${g.source} is empty but the backup holds ${g.last.size} entries — is a drive not mounted? (use --force if it is really empty)`,
    };
  }
  // A moved file leaves its old path but not the backup: moving a big folder is no mass deletion.
  const moved = new Set<string>();
  for (const put of g.plan.puts) if (put.moveFrom !== undefined) moved.add(put.moveFrom.path);
  const deletedFiles = g.plan.deletes.filter((e) => e.type !== 'dir' && !moved.has(e.path)).length;
  if (deletedFiles < MASS_DELETE_MIN) return undefined;
  let mirrorFiles = 0;
  if (g.last instanceof StateTable) mirrorFiles = g.last.countNonDirs();
  else for (const e of g.last.values()) if (e.type !== 'dir') mirrorFiles++;
  if (deletedFiles > g.maxDeleteRatio * mirrorFiles) {
    const pct = Math.round((100 * deletedFiles) / Math.max(1, mirrorFiles));
    return {
      guard: 'mass-delete',
      message: `this run would delete ${deletedFiles} of ${mirrorFiles} files in the mirror (${pct}%, more than max_delete_ratio ${g.maxDeleteRatio}); refusing (use --force if that is intended)`,
    };
  }
  return undefined;
}
