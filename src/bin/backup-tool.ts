import { runMain } from '../cli/run-main.js';
import { main } from '../cli/tool.js';

runMain('backup-tool', main);
