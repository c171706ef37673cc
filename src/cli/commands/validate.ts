import fs from 'node:fs';
import path from 'node:path';
import { validateDefinitionFile, type DefinitionResult } from '../../definitions/validate.js';
import { UsageError } from '../../errors.js';
import { listDefinitionFiles } from '../../sync/discover.js';
import { validateResult } from '../../views/definitions.js';
import { diagnosticLine, print, printJson } from '../output.js';

export interface ValidateOptions {
  repo: string;
  json: boolean;
}

/** Files named on the command line; folders are searched for *.workflow.(yaml|yml|json). */
function collectFiles(paths: string[], repo: string): string[] {
  const targets = paths.length > 0 ? paths : ['environments', 'bundles'].filter((p) => fs.existsSync(path.resolve(repo, p)));
  const files: string[] = [];
  for (const target of targets) {
    const abs = path.resolve(paths.length > 0 ? process.cwd() : repo, target);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(abs);
    } catch {
      throw new UsageError(`no such file or folder: ${target}`);
    }
    files.push(...(stat.isDirectory() ? listDefinitionFiles(abs) : [abs]));
  }
  return [...new Set(files)].sort();
}

/** `stn validate [paths...]`: validates definition files without a database. Exit 0 when all are valid, 1 otherwise. */
export function validateCommand(paths: string[], options: ValidateOptions): number {
  const files = collectFiles(paths, options.repo);
  const results: DefinitionResult[] = files.map((f) => validateDefinitionFile(f, path.relative(process.cwd(), f) || f));
  const invalid = results.filter((r) => !r.valid).length;
  if (options.json) {
    printJson({ files: results.map(validateResult) });
  } else {
    for (const r of results) {
      print(`${r.valid ? 'ok     ' : 'INVALID'} ${r.path}${r.id ? `  (${r.id})` : ''}`);
      for (const d of [...r.errors, ...r.warnings, ...r.notes]) print(`  ${diagnosticLine(r.path, d, d.severity)}`);
    }
    if (files.length === 0) print('no workflow files found (*.workflow.yaml, *.workflow.yml, *.workflow.json)');
    else print(`\n${files.length} file${files.length === 1 ? '' : 's'}: ${files.length - invalid} valid, ${invalid} invalid`);
  }
  return invalid > 0 ? 1 : 0;
}
