import type { Fs } from '../io/fs.js';
import type { Durability } from '../io/durability.js';
import type { Layout } from '../store/layout.js';
import { recoverInterruptedRun, repairBareIncrements, sweepTmp } from './recover.js';
import { recoverInterruptedPrune } from './prune-exec.js';

/**
 * What every writer does first, under the lock: finish an interrupted backup run, then an
 * interrupted prune (each idempotent, so the order does not matter for the result), remove temp
 * files, and describe increment folders a crash left without metadata. `source`/`profile` name the
 * backup in such a repaired increment.json. `durability` makes what an interrupted run did durable
 * before it is recorded (recoverInterruptedRun: asked only when there is something to record), and
 * what an interrupted prune carried before it removes a pruned increment (executePrune).
 */
export function recoverDestination(
  fs: Fs,
  layout: Layout,
  o: { source: string; profile: string; notice: (message: string) => void; durability: () => Durability },
): void {
  const rec = recoverInterruptedRun(fs, layout, o.durability);
  if (rec.id !== undefined) {
    o.notice(
      `finished the interrupted run ${rec.id}: ${rec.done} changes had reached the backup, ${rec.undone} were rolled back` +
        (rec.removedEmpty ? ' (its empty increment was removed)' : ' (its increment is marked "complete": false)') +
        (rec.damaged > 0 ? `; ${rec.damaged} damaged line${rec.damaged === 1 ? '' : 's'} of its journal ${rec.damaged === 1 ? 'was' : 'were'} ignored` : ''),
    );
  }
  const pruned = recoverInterruptedPrune(fs, layout, o.durability);
  if (pruned.length > 0) o.notice(`finished an interrupted prune (removed ${pruned.join(', ')})`);
  sweepTmp(fs, layout);
  for (const id of repairBareIncrements(fs, layout, o.source, o.profile)) o.notice(`repaired increment ${id} left without metadata`);
}
