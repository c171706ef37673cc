/**
 * Worker thread of the validation pool: validates batches of definition files sent by the main thread. Validation is
 * pure (bytes in, result out), so it parallelizes across cores without touching the database.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setExpressionLimits, type ExpressionLimits } from '../expressions/index.js';
import { compactResult, validateDefinitionBytes, type CompactResult } from './validate.js';

export interface ValidationRequest {
  id: number;
  items: Array<{ path: string; bytes: Uint8Array }>;
}

export interface ValidationResponse {
  id: number;
  results: CompactResult[];
}

const port = parentPort;
const limits = (workerData as { expressionLimits?: ExpressionLimits } | null)?.expressionLimits;
if (limits) setExpressionLimits(limits);
if (port) {
  port.on('message', (req: ValidationRequest) => {
    const results = req.items.map((it) => compactResult(validateDefinitionBytes(it.bytes, it.path)));
    port.postMessage({ id: req.id, results } satisfies ValidationResponse);
  });
}
