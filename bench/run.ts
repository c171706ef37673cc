/**
 * `npm run bench`: runs every benchmark (or those named: `npm run bench -- definitions`) and prints its figures.
 * Benchmarks are never part of `npm test`.
 */
import { benchAgents } from './agents.js';
import { benchDefinitionsSync } from './definitions-sync.js';
import { benchDiff } from './diff.js';
import { benchEngine } from './engine.js';
import { benchFileChange } from './file-change.js';
import { benchRunsList } from './runs-list.js';
import { benchTransform } from './transform.js';
import { benchWebhook } from './webhook.js';

const BENCHES: Record<string, () => Promise<void>> = {
  definitions: benchDefinitionsSync,
  engine: benchEngine,
  webhook: benchWebhook,
  'file-change': benchFileChange,
  diff: benchDiff,
  agents: benchAgents,
  transform: benchTransform,
  'runs-list': benchRunsList,
};

const wanted = process.argv.slice(2);
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES)) {
  const bench = BENCHES[name];
  if (!bench) {
    process.stderr.write(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exit(2);
  }
  await bench();
}
