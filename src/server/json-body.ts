import type { FastifyInstance } from 'fastify';
import { bodyTooDeep, jsonNestingViolation } from '../nesting.js';

/**
 * The JSON body parser of the API: Fastify's own (which refuses `__proto__` and `constructor.prototype` keys), after a
 * linear scan that refuses bodies nested deeper than MAX_NESTING_DEPTH with 400 STN_E_BODY_TOO_DEEP, before
 * JSON.parse, schema validation or any other recursive code sees them.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    const deep = jsonNestingViolation(text);
    if (deep) {
      done(bodyTooDeep('request body', deep), undefined);
      return;
    }
    void parse(req, text, done);
  });
}
