import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runMain } from '../cli/run-main.js';
import { main } from '../cli/tool.js';
import { runCopyWorker, type CopyWorkerData } from '../restore/copy-files.js';
import { realFs } from '../io/fs.js';

// The same file serves as the restore's copying thread (src/restore/copy-files.ts).
if (isMainThread) runMain('backup-tool', main);
else if (parentPort !== null && (workerData as Partial<CopyWorkerData> | undefined)?.hardbackCopy === 1) {
  runCopyWorker(workerData as CopyWorkerData, parentPort, realFs);
}
