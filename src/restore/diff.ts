import type { Entry } from '../meta/entry.js';
import { sortedPaths, type StateItem } from './state-at.js';

/** `diff`: what differs between two states, by the change predicate of SPEC §3 (a folder's mtime alone is no change). */

export type DiffReason = 'type' | 'size' | 'mtime' | 'mode' | 'content' | 'target' | 'tracked';

export interface DiffResult {
  added: StateItem[];
  deleted: StateItem[];
  changed: { from: StateItem; to: StateItem; reasons: DiffReason[] }[];
  /** Paths present on both sides whose version is unknown on one of them. */
  unknown: string[];
}

export function diffReasons(a: Entry, b: Entry): DiffReason[] {
  if (a.type !== b.type) return ['type'];
  const r: DiffReason[] = [];
  if (a.tracked !== b.tracked) r.push('tracked');
  if (a.type === 'file') {
    if (a.size !== b.size) r.push('size');
    if (a.sha256 !== b.sha256) r.push('content');
    if (a.mtime_ns !== b.mtime_ns) r.push('mtime');
  }
  if (a.type === 'symlink' && a.target !== b.target) r.push('target');
  if (a.type !== 'symlink' && a.mode !== b.mode) r.push('mode');
  return r;
}

export function diffStates(from: ReadonlyMap<string, StateItem>, to: ReadonlyMap<string, StateItem>): DiffResult {
  const out: DiffResult = { added: [], deleted: [], changed: [], unknown: [] };
  const paths = new Set([...from.keys(), ...to.keys()]);
  for (const p of sortedPaths(paths)) {
    const a = from.get(p);
    const b = to.get(p);
    if (a === undefined && b !== undefined) out.added.push(b);
    else if (b === undefined && a !== undefined) out.deleted.push(a);
    else if (a !== undefined && b !== undefined) {
      if (a.entry === undefined || b.entry === undefined) {
        out.unknown.push(p);
        continue;
      }
      const reasons = diffReasons(a.entry, b.entry);
      if (reasons.length > 0) out.changed.push({ from: a, to: b, reasons });
    }
  }
  return out;
}
