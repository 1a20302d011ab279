import { parentPort, workerData } from 'node:worker_threads';
import { servePair } from '../../src/threads/pair.js';
import { testWork, type TestWorkOptions } from './pair-work.js';

// The worker side of test/unit/thread-pair.test.ts: the test job of test/helpers/pair-work.ts, with
// the options the test gives in workerData.
if (parentPort !== null) servePair(parentPort, testWork((workerData as { test: TestWorkOptions }).test));
