import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runMain } from '../cli/run-main.js';
import { main } from '../cli/backup.js';
import { runScanWorker, type ScanWorkerData } from '../scan/parallel.js';
import { realFs } from '../io/fs.js';

// The same file serves as the scan's worker thread (src/scan/parallel.ts).
if (isMainThread) runMain('backup', main);
else if (parentPort !== null && (workerData as Partial<ScanWorkerData> | undefined)?.hardbackScan === 1) {
  runScanWorker(workerData as ScanWorkerData, parentPort, realFs);
}
