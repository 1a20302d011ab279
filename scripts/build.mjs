// Bundles the two programs into single self-contained files (no node_modules at run time).
// CommonJS output so a copied file runs with plain `node` even without a package.json beside it.
import { build } from 'esbuild';
import { mkdirSync, writeFileSync, readFileSync, chmodSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
mkdirSync('build', { recursive: true });
// Inside this repository package.json says "type": "module"; this marker keeps build/*.js CommonJS.
writeFileSync('build/package.json', '{ "type": "commonjs" }\n');
for (const [entry, out] of [['src/bin/backup.ts', 'build/backup.js'], ['src/bin/backup-tool.ts', 'build/backup-tool.js']]) {
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    define: { HARDBACK_VERSION: JSON.stringify(version), HARDBACK_BUNDLED: 'true' },
    logLevel: 'warning',
  });
  chmodSync(out, 0o755);
}
