import { setFlagsFromString } from 'node:v8';

/**
 * Caps how far V8 lets the heap grow past what is live, from the moment a backup starts applying
 * changes. The setting is the process's (all threads), and stays.
 *
 * While it applies, a run only adds to what it holds (every entry it stores stays until the
 * manifest is written), and after each full collection V8 sets the next one's threshold at up to 4×
 * the live size when collecting looks cheap: a first run of 100k files (W1 of bench/) reached 178
 * MiB of heap for 62 MiB live, and 257–263 MiB of peak RSS. Capping the growth at 20 % per
 * collection collects a little more often: 192–194 MiB at 4.81–4.89 s against 4.62–4.80 s (tmpfs,
 * three runs each, GNU time); 10 % gave no less (196–199 MiB), 30 % gave 200–205 MiB.
 *
 * Not earlier: a no-change run peaks while it reads the manifest, at ~150 MiB with or without the
 * cap, and the cap made it 12 % slower (0.58 → 0.65 s, hyperfine). Nor for backup-tool: a search
 * only cost time with it (0.83 → 0.92 s over 100 increments).
 */
export function capHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=20');
}
