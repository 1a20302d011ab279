import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runMain } from '../cli/run-main.js';
import { main } from '../cli/backup.js';
import { runScanWorker, type ScanWorkerData } from '../scan/parallel.js';
import { runCopyWorker, type CopyWorkerData } from '../apply/copier.js';
import { workerRole, workerStarting } from '../threads/roles.js';
import { realFs } from '../io/fs.js';

// The same file serves as the worker threads of the scan (src/scan/parallel.ts) and of the copies
// (src/apply/copier.ts): workerData's hardbackRole says which (src/threads/roles.ts).
if (isMainThread) runMain('backup', main);
else if (parentPort !== null) {
  workerStarting(workerData);
  const role = workerRole(workerData);
  if (role === 'scan') runScanWorker(workerData as ScanWorkerData, parentPort, realFs);
  else if (role === 'copy') runCopyWorker(workerData as CopyWorkerData, parentPort, realFs);
}
