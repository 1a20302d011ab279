import type { Entry } from '../meta/entry.js';
import { asciiJson } from '../meta/ascii-json.js';

/**
 * Why an entry at the same path counts as changed since the last backed-up state, or undefined when
 * it is unchanged. The one change predicate (SPEC §3). A different `type` is not a change: the plan
 * turns it into a deletion plus a new entry.
 *
 * - file: size, mtime (exact, nanoseconds), mode; with `checksum` also the content hash
 * - folder: mode only (a folder's mtime moves whenever its content does)
 * - symlink: target
 * - any: becoming tracked or untracked (the version must then be linked into, or left out of, history)
 */
export type ChangeReason = 'size' | 'mtime' | 'mode' | 'content' | 'target' | 'tracked';

export function changeReason(prev: Entry, cur: Entry, opts: { checksum: boolean }): ChangeReason | undefined {
  if (prev.tracked !== cur.tracked) return 'tracked';
  switch (cur.type) {
    case 'file':
      if (prev.size !== cur.size) return 'size';
      if (prev.mtime_ns !== cur.mtime_ns) return 'mtime';
      if (prev.mode !== cur.mode) return 'mode';
      if (opts.checksum && cur.sha256 !== undefined && prev.sha256 !== cur.sha256) return 'content';
      return undefined;
    case 'dir':
      return prev.mode !== cur.mode ? 'mode' : undefined;
    case 'symlink':
      return prev.target !== cur.target ? 'target' : undefined;
  }
}

/**
 * The same predicate as a string: two entries at one path have equal quick keys exactly when
 * changeReason (without checksum) finds no change. Stored in the manifest so a run compares strings.
 */
export function quickKey(e: Entry): string {
  return quickKeyOf(e.type, e.tracked, e.size, e.mtime_ns, e.mode, e.target);
}

/** quickKey from the parts, for the scan to compare before it builds an entry. */
export function quickKeyOf(type: Entry['type'], tracked: boolean, size: number, mtime_ns: string, mode: number, target: string | undefined): string {
  const t = tracked ? 1 : 0;
  switch (type) {
    case 'file':
      return `f:${t}:${size}:${mtime_ns}:${mode}`;
    case 'dir':
      return `d:${t}:${mode}`;
    case 'symlink':
      return `l:${t}:${asciiJson(target ?? '')}`;
  }
}
