import { runMain } from '../cli/run-main.js';
import { main } from '../cli/backup.js';

runMain('backup', main);
