import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runMain } from '../cli/run-main.js';
import { main } from '../cli/backup.js';
import { runScanWorker, type ScanWorkerData } from '../scan/parallel.js';
import { runCopyWorker, type CopyWorkerData } from '../apply/copier.js';
import { awaitNextRole, workerRole, workerStarting } from '../threads/roles.js';
import { realFs } from '../io/fs.js';
import { gcFunction } from '../threads/heap.js';
import { limitInlining } from '../threads/jit.js';

// The same file serves as the worker threads of the scan (src/scan/parallel.ts) and of the copies
// (src/apply/copier.ts): workerData's hardbackRole says which (src/threads/roles.ts).
// A scan worker, once it has answered, may be given the copies of the same run (awaitNextRole).
if (isMainThread) {
  limitInlining();
  runMain('backup', main);
}
else if (parentPort !== null) {
  const port = parentPort;
  const serve = (data: unknown): void => {
    const role = workerRole(data);
    if (role === 'scan') {
      // Taken before the scan answers: the main thread takes its own gc() only after (capHeapGrowth).
      const collect = gcFunction();
      runScanWorker(data as ScanWorkerData, port, realFs);
      // What the scan held goes at once, while the main thread plans: whether the copies take this
      // worker over or the run stops it, what it read of the manifest is not held beside the plan.
      collect?.();
      awaitNextRole(port, serve);
    } else if (role === 'copy') runCopyWorker(data as CopyWorkerData, port, realFs);
  };
  workerStarting(workerData);
  serve(workerData);
}
