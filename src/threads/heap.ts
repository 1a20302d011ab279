import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A run that stores at least this many entries caps the heap's growth before it applies them
 * (capHeapGrowth). Below, it adds little to what it holds, and the full collection that makes the
 * cap take effect costs more than it saves: a 1 % change of a 100k-file tree (~1,200 entries)
 * took 0.74–0.79 s with it against 0.69–0.72 s without, at the same peak (146–147 MiB).
 */
export const CAP_HEAP_MIN_STORES = 20_000;

/**
 * Caps how far V8 lets the old generation grow, from the moment a backup starts applying a large
 * plan (or walking a first run) until the run ends: the returned function puts V8's own policy back
 * (the setting is the process's, and `backup` runs its profiles one after another in one process).
 *
 * The old generation may grow by 20 % per full collection. After each full collection V8 sets the
 * next one's threshold at up to 4× the live size when collecting looks cheap, and what a run holds
 * only grows while it applies. The cap counts from the next full collection, so one is made here:
 * without it, the threshold set during the scan of a 1M-file plan (W3 of bench/, ~1.4 GB) stood
 * until the end, and the cap changed nothing.
 *
 * Measured before first runs were walked: the cap took a W1 first run (100k files) from 257–269 MiB
 * to 187–198 MiB, W3 (1M files) from 1,494 to 743–766 MiB; 10 % gave no less at W1, 30 % gave more.
 *
 * Not for every run: a no-change run made 8–12 % slower with the cap from its start; nor for
 * backup-tool, where a search only got slower with it (0.83 → 0.92 s over 100 increments).
 */
export function capHeapGrowth(): () => void {
  setFlagsFromString('--heap-growing-percent=20');
  gcFunction()?.();
  // V8's default: 0 is no fixed factor (its own policy).
  return () => setFlagsFromString('--heap-growing-percent=0');
}

/**
 * This thread's gc(), a full collection. Node has no call for it without --expose-gc on its command
 * line, which the user's `node backup.js` does not give; the flag exposes gc() to contexts made while
 * it is on. The flag is the process's: were another thread to turn it off between the two calls,
 * there would be no gc() (undefined). So a worker that will want one takes it as it starts, while
 * the main thread is at no such step (src/bin/backup.ts).
 */
export function gcFunction(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  setFlagsFromString('--no-expose-gc');
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

/** Holds taken and not yet released (runs nest only in tests; profiles run one after another). */
let youngHolds = 0;

/**
 * Keeps V8's young generation at its starting size (1 MiB halves) in every thread, for a whole
 * backup run, until the returned function is called.
 *
 * V8 doubles the young generation, up to 16 MiB halves (32 MiB resident), each time as many bytes
 * have survived collections since its last growth as it holds: any run that keeps ~15 MB of new
 * objects (the entries a large change scans and plans, a batch of 4,096 files being copied) reaches
 * the maximum, and keeps it to the end. Growth factor 1 keeps it where it starts.
 *
 * Under the hold each thread also scavenges alone (no parallel scavenge). A scavenge of a 1 MiB half
 * is small, and V8 would share it with a helper thread; but a run's two threads (the scan's, the
 * copies') keep both cores busy, so the scavenging thread waited for a helper that had no core: with
 * --trace-gc a no-change run of W1 spent 109-161 ms in its ~220 scavenges with helpers, 64-100 ms
 * alone (tmpfs, 10 runs each). Alternating 15 runs each: no-change 0.86 s against 0.92 s (median;
 * CPU 1.47 against 1.61 s), a moved folder 4.5 s against 4.9 s (6 runs each), a 1 % change the same
 * (1.17 against 1.15 s, 12 runs each), peaks unchanged (session 11).
 *
 * V8 sets the factor back to 2 whenever it configures an isolate's heap, a worker thread's too: the
 * hold is put back by the worker itself as it starts, and by this thread once the worker is online
 * and again when it exits (threads/roles.ts startWorker, settleYoungFactor).
 *
 * Measured on tmpfs at W1 (100k files; bench/HISTORY.md, session 6): a moved folder (29,564 files)
 * peaked at 179–190 MiB without the hold, 144–146 MiB with it (and the state table off the heap),
 * in 2.83 s against 2.73 s; a no-change run took the same time within the noise.
 */
export function holdYoungGeneration(): () => void {
  youngHolds++;
  setYoungFactor(true);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--youngHolds === 0) setYoungFactor(false);
  };
}

/** Whether a hold is on: a worker started now is told to put it back (startWorker). */
export const youngGenerationHeld = (): boolean => youngHolds > 0;

/** A worker told to hold, as it starts: its heap set-up set V8's factor back. */
export function reassertYoungHold(held: boolean): void {
  if (held) setYoungFactor(true);
}

/**
 * The factor as this thread's holds want it, after a worker came online or exited: a worker's
 * heap set-up sets it back to 2 while a hold is on, and a worker told to hold that starts after
 * the hold was released (one stopped early) sets it to 1.
 */
export function settleYoungFactor(): void {
  setYoungFactor(youngHolds > 0);
}

/**
 * Held: factor 1, the young generation keeps its size, and each thread scavenges its own alone;
 * else V8's defaults: it doubles, and a scavenge shares its work with V8's helper threads.
 */
function setYoungFactor(held: boolean): void {
  setFlagsFromString(`--semi-space-growth-factor=${held ? 1 : 2}`);
  setFlagsFromString(held ? '--no-parallel-scavenge' : '--parallel-scavenge');
}
