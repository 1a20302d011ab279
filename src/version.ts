declare const HARDBACK_VERSION: string | undefined;
/** Replaced at bundle time by scripts/build.mjs; tests running the compiled sources see 'dev'. */
export const VERSION: string = typeof HARDBACK_VERSION === 'string' ? HARDBACK_VERSION : 'dev';

declare const HARDBACK_BUNDLED: boolean | undefined;
/** True in build/*.js: the program file itself can then be started again as a worker thread. */
export const BUNDLED: boolean = typeof HARDBACK_BUNDLED === 'boolean' && HARDBACK_BUNDLED;
