import * as realFs from 'node:fs';
import type { Fs } from '../../src/io/fs.js';

/** Rule: given the call's first (path or fd) argument, an errno code to throw, or false to pass through. */
export type FaultRule = (target: unknown, callNumber: number) => string | false | undefined;

/**
 * The real fs with chosen calls failing with chosen errno codes:
 * `faultyFs({ renameSync: (p) => String(p).endsWith('b.txt') && 'ENOSPC' })`.
 * Callback-style functions (read, write, fsync) report the fault through their callback.
 */
export function faultyFs(rules: Partial<Record<keyof Fs, FaultRule>>): Fs & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const fake = (code: string, target: unknown) => Object.assign(new Error(`${code}: injected fault, ${String(target)}`), { code });
  return new Proxy(realFs as Fs & { calls: Map<string, number> }, {
    get(target, prop, receiver) {
      if (prop === 'calls') return calls;
      const value = Reflect.get(target, prop, receiver) as unknown;
      const rule = rules[prop as keyof Fs];
      if (rule === undefined || typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const n = (calls.get(String(prop)) ?? 0) + 1;
        calls.set(String(prop), n);
        const code = rule(args[0], n);
        if (code) {
          const cb = args[args.length - 1];
          if (typeof cb === 'function' && !String(prop).endsWith('Sync')) {
            process.nextTick(() => (cb as (e: Error) => void)(fake(code, args[0])));
            return undefined;
          }
          throw fake(code, args[0]);
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * The real fs, with `before` called just before each openSync: a test makes something happen at
 * that moment (another writer's step, a file changing under a reader).
 */
export function beforeOpen(before: (path: string, flags: realFs.OpenMode | undefined) => void): Fs {
  return new Proxy(realFs as Fs, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'openSync' || typeof value !== 'function') return value;
      return (path: realFs.PathLike, flags?: realFs.OpenMode, mode?: realFs.Mode) => {
        before(String(path), flags);
        return realFs.openSync(path, flags ?? 'r', mode);
      };
    },
  });
}
