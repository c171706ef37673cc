import type { JsonValue } from '../definitions/types.js';
import { StationError } from '../errors.js';
import { renderTemplate } from '../expressions/index.js';
import { setKey } from '../expressions/values.js';
import { bodyTooDeep, jsonNestingViolation } from '../nesting.js';
import type { RequestHeaders } from './signature.js';

/** Headers a webhook's `input` template never sees: credentials of the caller, not data about the event. */
const HIDDEN_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** What a webhook's `input` template sees (README "Webhooks"): the parsed body, the headers and the query string. */
export interface WebhookVars {
  body: JsonValue;
  headers: Record<string, string>;
  query: Record<string, string | string[]>;
}

/**
 * Parses a webhook body: JSON when the content type says so or the body looks like JSON, form fields for
 * `application/x-www-form-urlencoded`, text otherwise; an empty body is null. Malformed JSON is a 400, and so is
 * JSON nested deeper than MAX_NESTING_DEPTH (STN_E_BODY_TOO_DEEP).
 */
export function parseBody(rawBody: Buffer, contentType: string | undefined): JsonValue {
  if (rawBody.length === 0) return null;
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const text = rawBody.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    const out: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(text)) setKey(out, k, v);
    return out;
  }
  const looksJson = /^\s*[[{"]/.test(text);
  if (type === 'application/json' || type.endsWith('+json') || (type === '' && looksJson)) {
    // Measured before JSON.parse: a deeply nested body would overflow the stack of everything recursive after it.
    const deep = jsonNestingViolation(text);
    if (deep) throw bodyTooDeep('webhook body', deep);
    try {
      return JSON.parse(text) as JsonValue;
    } catch (err) {
      throw new StationError('STN_E_USAGE', `the request body is not valid JSON: ${(err as Error).message}`);
    }
  }
  return text;
}

/** The variables of a webhook's `input` template. */
export function webhookVars(rawBody: Buffer, headers: RequestHeaders, query: RequestHeaders): WebhookVars {
  const h: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HIDDEN_HEADERS.has(name)) continue;
    setKey(h, name, Array.isArray(value) ? value.join(', ') : value);
  }
  const q: Record<string, string | string[]> = {};
  // setKey: a field named `__proto__` stays a field (assigning it would replace the object's prototype).
  for (const [name, value] of Object.entries(query)) if (value !== undefined) setKey(q, name, value);
  const contentType = typeof headers['content-type'] === 'string' ? headers['content-type'] : undefined;
  return { body: parseBody(rawBody, contentType), headers: h, query: q };
}

/**
 * A trigger's run input: its `input` rendered over the variables, or, without one, a webhook's body when it is a
 * JSON object (`{}` when the body is empty, `{body: <value>}` for anything else). Template errors name the trigger.
 */
export function triggerInput(
  template: JsonValue | undefined,
  vars: Record<string, unknown>,
  triggerName: string,
  fallbackBody?: JsonValue,
): JsonValue {
  if (template === undefined) {
    if (fallbackBody === undefined || fallbackBody === null) return {};
    if (typeof fallbackBody === 'object' && !Array.isArray(fallbackBody)) return fallbackBody;
    return { body: fallbackBody };
  }
  return renderTemplate(template, vars, { field: `triggers.${triggerName}.input` }) as JsonValue;
}
