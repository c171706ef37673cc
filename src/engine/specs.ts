import type { WorkflowSpec } from '../definitions/types.js';
import { StationError } from '../errors.js';
import type { DefinitionStore } from '../store/definitions.js';
import type { RunRow } from '../store/runs.js';
import { indexSpec, type ScopeDef } from './spec-index.js';
import { objectColumn } from '../store/run-rows.js';

export interface LoadedSpec {
  spec: WorkflowSpec;
  scopes: Map<string, ScopeDef>;
}

/** Pinned definition versions, parsed and indexed once (versions never change, so the cache never goes stale). */
export class Specs {
  private readonly cache = new Map<string, LoadedSpec>();

  constructor(private readonly definitions: DefinitionStore) {}

  forRun(run: Pick<RunRow, 'environment' | 'workflow_id' | 'version'>): LoadedSpec {
    return this.get(run.environment, run.workflow_id, run.version);
  }

  get(environment: string, workflowId: string, version: number): LoadedSpec {
    const key = `${environment}\0${workflowId}\0${version}`;
    let loaded = this.cache.get(key);
    if (!loaded) {
      const row = this.definitions.version(environment, workflowId, version);
      if (!row) {
        throw new StationError('STN_E_NOT_FOUND', `no version ${version} of workflow "${workflowId}" in "${environment}"`);
      }
      const spec = objectColumn<WorkflowSpec>(row.spec);
      loaded = { spec, scopes: indexSpec(spec) };
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(key, loaded);
    }
    return loaded;
  }
}
