/**
 * `npm run schemas` (and the last step of `npm run build`): regenerates schemas/workflow.schema.json from the executor
 * catalog, and the copy tsc put in dist/ for the built `stn`. With --check, or when CI is set, it writes nothing and
 * fails when the committed file is out of date, so CI catches a catalog change whose schema was not committed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { generateWorkflowSchema, schemaText } from './workflow-schema.js';

/** The repository root: this file runs as dist/scripts/gen-schemas.js. */
const root = path.resolve(import.meta.dirname, '..', '..');
const FILE = 'schemas/workflow.schema.json';

function main(): number {
  const source = path.join(root, FILE);
  const current = fs.readFileSync(source, 'utf8');
  const generated = schemaText(generateWorkflowSchema(JSON.parse(current) as Record<string, unknown>));
  const check = process.argv.includes('--check') || Boolean(process.env.CI);
  if (current !== generated) {
    if (check) {
      console.error(`${FILE} is out of date with src/executors/catalog.ts: run \`npm run schemas\` and commit it.`);
      return 1;
    }
    fs.writeFileSync(source, generated);
    console.log(`${FILE} regenerated from the executor catalog: commit it.`);
  }
  // The built `stn` reads the copy tsc emitted before this script ran.
  const built = path.join(root, 'dist', FILE);
  if (fs.existsSync(built) && fs.readFileSync(built, 'utf8') !== generated) fs.writeFileSync(built, generated);
  return 0;
}

process.exitCode = main();
