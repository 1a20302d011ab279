import { join } from 'node:path';
import type { Fs } from '../io/fs.js';
import { isCode, isNoHardlink } from '../io/errors.js';
import { tmpName } from '../io/atomic.js';
import { TMP_PREFIX } from './layout.js';

export interface DestinationTraits {
  hardlinks: boolean;
  caseInsensitive: boolean;
  /** Owner a new temp file gets (so a copy is chown'ed only when its owner must differ). */
  newFileOwner: { uid: number; gid: number };
}

/**
 * Probes the destination once, before anything of the run is written: can it hard-link, and does it
 * fold case? (pnpm's importer does the same: try, then switch mode for the whole run.)
 */
export function probeDestination(fs: Fs, tmpDir: string): DestinationTraits {
  const a = join(tmpDir, `${tmpName(TMP_PREFIX)}-probe-a`);
  const b = join(tmpDir, `${tmpName(TMP_PREFIX)}-probe-b`);
  fs.writeFileSync(a, '', { flag: 'wx' });
  try {
    let hardlinks = true;
    try {
      fs.linkSync(a, b);
    } catch (err) {
      // (EINVAL too: some FUSE filesystems answer that to link(2).)
      if (!isNoHardlink(err) && !isCode(err, 'EINVAL')) throw err;
      hardlinks = false;
    }
    // Case: does the upper-cased name of `a` find the same file?
    const upper = join(tmpDir, a.slice(tmpDir.length + 1).toUpperCase());
    const caseInsensitive = upper !== a && fs.lstatSync(upper, { throwIfNoEntry: false }) !== undefined;
    const st = fs.lstatSync(a);
    return { hardlinks, caseInsensitive, newFileOwner: { uid: st.uid, gid: st.gid } };
  } finally {
    for (const p of [a, b]) {
      try {
        fs.unlinkSync(p);
      } catch {
        // best effort: b may not exist
      }
    }
  }
}
