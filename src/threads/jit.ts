import { V8_DEFAULTS, flagValue, setFlag } from './v8-flags.js';

/**
 * How many bytes of bytecode V8's optimizing compiler may inline into one function, in all, while
 * a program does short work: a no-change or small backup run, a search (V8's own default is
 * V8_INLINE_BUDGET). Set once by each program before any code is hot (src/bin/backup.ts,
 * src/bin/backup-tool.ts); the setting is the process's, so the worker threads compile under it too.
 *
 * Why: such a run lives about a second, on two threads, on two cores. Each thread compiles its own
 * hot functions, again after each deoptimization, and under V8's default the hot loops of a
 * no-change run (the manifest's reader, the walk) pull in so much that compiling them took ~300 ms
 * of CPU in a ~1.1 s run (W1, tmpfs, `--trace-opt --no-concurrent-recompilation`: 74 compilations,
 * ~20 ms each for the walk). V8 compiles on helper threads, which find no free core while both
 * threads walk: the walk meanwhile runs unoptimized, and the compile then takes a core from it.
 * Under the cap the same compilations took ~160 ms (100) or ~125 ms (50).
 *
 * Long work (a first run, a plan that stores many entries, the scan of a state of 600,000 entries
 * or more, the copies of a restore) gets V8's default back (inlineForLongWork): its compilations
 * are paid once in many seconds, and its loops ran ~4 % faster with the default (a first run of W1;
 * a no-change run of W3, apply/run.ts LONG_SCAN_ENTRIES).
 *
 * The budget is one of the flags V8's code cache checks: a worker starts under V8's default, and
 * puts the cap back once its modules are loaded (threads/v8-flags.ts).
 *
 * Measured on Node 20 only. From Node 22 on, V8 also optimizes with Maglev first, which has a budget
 * of its own (not capped here): what the cap gains there is not measured.
 *
 * Measured in session 27 (W1, tmpfs, alternating runs): a no-change run 671 → 565 ms (medians of
 * 16; 625 at 400, 579 at 200) in a slow spell, 615 → 586 ms (50: 571, 150: 591) in a faster one,
 * 815 → 740 ms over 8 rounds; a 1 % change 1,027 → 861 ms; bench/README.md, "What changed in
 * session 27", has the rest.
 */
export const INLINE_BUDGET = 100;
const FLAG = 'max-inlined-bytecode-size-cumulative';
/** V8's default. */
export const V8_INLINE_BUDGET = V8_DEFAULTS[FLAG];

/** The budget as this thread set it last (V8's own until a program sets one): what the tests check. */
export const inlineBudget = (): number => flagValue(FLAG);

/** Caps inlining for short work (see INLINE_BUDGET). */
export function limitInlining(): void {
  setInlineBudget(INLINE_BUDGET);
}

/**
 * V8's default inlining from now on, for long work: code compiled after this call inlines as V8
 * would. The returned function puts back the budget that was set before (the cap, for the next
 * profile of a `backup` run); called twice, it does it once.
 */
export function inlineForLongWork(): () => void {
  const before = inlineBudget();
  setInlineBudget(V8_INLINE_BUDGET);
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    setInlineBudget(before);
  };
}

function setInlineBudget(bytes: number): void {
  setFlag(FLAG, bytes);
}
