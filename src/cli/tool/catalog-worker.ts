import type { Worker } from 'node:worker_threads';
import type { Fs } from '../../io/fs.js';
import { compileMasks } from '../../restore/search.js';
import { readIncrements, type IncrementRead, type RecordsSpec } from '../../store/catalog.js';
import { startWorker, type RoleData } from '../../threads/roles.js';

/**
 * `search` (and `recreate`) read the manifest on this thread while a worker thread (the bundle
 * started again, as for restores) reads and checks every increment.json, decoding the records the
 * masks match (none for recreate): on two cores the two halves of the metadata take the time of one. Whatever goes wrong with the worker, this thread
 * reads the increments itself (readCatalogSharing gets undefined).
 */

export interface CatalogWorkerData extends RoleData<'catalog'> {
  dist: string;
  records: RecordsSpec;
}

export function readIncrementsElsewhere(script: string, dist: string, records: RecordsSpec): Promise<ReadonlyMap<string, IncrementRead> | undefined> {
  return new Promise((resolve) => {
    let w: Worker;
    try {
      const data: CatalogWorkerData = { hardbackRole: 'catalog', dist, records };
      w = startWorker(script, data);
    } catch {
      resolve(undefined);
      return;
    }
    let result: ReadonlyMap<string, IncrementRead> | undefined;
    w.once('message', (m: [string, IncrementRead][]) => (result = new Map(m)));
    w.once('error', () => resolve(undefined));
    w.once('exit', () => resolve(result));
  });
}

/** The worker's side. */
export function runCatalogWorker(data: CatalogWorkerData, port: { postMessage(v: unknown): void }, fs: Fs): void {
  const want = data.records === 'none' ? () => false : compileMasks(data.records.masks);
  port.postMessage([...readIncrements(fs, data.dist, want)]);
}
