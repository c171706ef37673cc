import type { Station } from '../context.js';
import type { CronTrigger, Trigger, WebhookTrigger } from '../definitions/types.js';

/** A trigger declared by the active version of an active definition. */
export interface ActiveTrigger<T extends Trigger = Trigger> {
  environment: string;
  workflowId: string;
  version: number;
  trigger: T;
}

/**
 * The triggers that may fire: those of definitions that are active (not disabled, with a valid version; a definition
 * whose latest edit is invalid keeps its last good version), and not switched off with `enabled: false`.
 */
export function activeTriggers(station: Station, cache?: TriggerCache): ActiveTrigger[] {
  const out: ActiveTrigger[] = [];
  const seen = new Set<string>();
  for (const d of station.definitions.listDefinitions({ status: 'active' })) {
    if (d.active_version === null) continue;
    // Versions never change: a reload after a sync parses only the definitions that got a new one.
    const key = `${d.environment}\0${d.workflow_id}\0${d.active_version}`;
    seen.add(key);
    let triggers = cache?.get(key);
    if (!triggers) {
      triggers = station.specs.get(d.environment, d.workflow_id, d.active_version).spec.triggers ?? [];
      cache?.set(key, triggers);
    }
    for (const trigger of triggers) {
      if (trigger.enabled === false) continue;
      out.push({ environment: d.environment, workflowId: d.workflow_id, version: d.active_version, trigger });
    }
  }
  if (cache) for (const key of cache.keys()) if (!seen.has(key)) cache.delete(key);
  return out;
}

/** The triggers of definition versions already read, by environment, workflow and version. */
export type TriggerCache = Map<string, Trigger[]>;

export function activeCronTriggers(station: Station, cache?: TriggerCache): Array<ActiveTrigger<CronTrigger>> {
  return activeTriggers(station, cache).filter((t): t is ActiveTrigger<CronTrigger> => t.trigger.type === 'cron');
}

/** One webhook trigger by its URL parts, or undefined when it does not exist, is disabled or its definition is. */
export function findWebhookTrigger(
  station: Station,
  environment: string,
  workflowId: string,
  name: string,
): ActiveTrigger<WebhookTrigger> | undefined {
  const d = station.definitions.definition(environment, workflowId);
  if (!d || d.status !== 'active' || d.active_version === null) return undefined;
  const { spec } = station.specs.get(environment, workflowId, d.active_version);
  const trigger = spec.triggers?.find((t): t is WebhookTrigger => t.type === 'webhook' && t.name === name);
  if (!trigger || trigger.enabled === false) return undefined;
  return { environment, workflowId, version: d.active_version, trigger };
}
