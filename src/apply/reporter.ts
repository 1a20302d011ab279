/** Core code reports, never prints: the CLI supplies text, JSON or progress implementations. */
export interface Progress {
  phase: 'scan' | 'hash' | 'copy';
  files: number;
  totalFiles?: number;
  bytes: number;
  totalBytes?: number;
}

export interface Reporter {
  /** A warning or notice for the user (e.g. a stale lock taken over, copies instead of links). */
  notice(message: string): void;
  progress(p: Progress): void;
  /** One action on one path (printed with --verbose). */
  action(kind: 'new' | 'changed' | 'deleted' | 'error' | 'skipped', path: string, detail?: string): void;
}

export const silentReporter: Reporter = {
  notice: () => {},
  progress: () => {},
  action: () => {},
};
