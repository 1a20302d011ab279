import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runMain } from '../cli/run-main.js';
import { main } from '../cli/tool.js';
import { runCatalogWorker, type CatalogWorkerData } from '../cli/tool/catalog-worker.js';
import { runCopyWorker, type CopyWorkerData } from '../restore/copy-files.js';
import { workerRole, workerStarting } from '../threads/roles.js';
import { realFs } from '../io/fs.js';
import { limitInlining } from '../threads/jit.js';

// The same file serves as the restore's copying thread (src/restore/copy-files.ts) and as the
// thread that reads increments for a search (src/cli/tool/catalog-worker.ts): workerData's
// hardbackRole says which (src/threads/roles.ts).
if (isMainThread) {
  limitInlining();
  runMain('backup-tool', main);
}
else if (parentPort !== null) {
  workerStarting(workerData);
  const role = workerRole(workerData);
  if (role === 'restore-copy') runCopyWorker(workerData as CopyWorkerData, parentPort, realFs);
  else if (role === 'catalog') runCatalogWorker(workerData as CatalogWorkerData, parentPort, realFs);
}
