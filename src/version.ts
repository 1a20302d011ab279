declare const HARDBACK_VERSION: string | undefined;
/** Replaced at bundle time by scripts/build.mjs; tests running the compiled sources see 'dev'. */
export const VERSION: string = typeof HARDBACK_VERSION === 'string' ? HARDBACK_VERSION : 'dev';
