import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StationError, type ErrorCode } from '../errors.js';
import { schemaViolations } from '../json-schema.js';
import { storageProblemOf } from '../store/health.js';

/** The one error shape of the API (docs/api.md "Errors"): `{error: {code, message, details}}`, never a stack trace. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> | null };
}

export function errorBody(code: ErrorCode | string, message: string, details?: Record<string, unknown> | null): ErrorBody {
  return { error: { code, message, details: details ?? null } };
}

/** Sends a StationError with the HTTP status of its code (src/errors.ts, docs/errors.md). */
export function sendError(reply: FastifyReply, err: StationError): FastifyReply {
  return reply.code(err.httpStatus).send(errorBody(err.code, err.message, err.details));
}

/** Fastify's own request errors (bad JSON, schema violations, media type, body size) as Station errors. */
function fromFastify(err: FastifyError): { status: number; body: ErrorBody } | undefined {
  if (err.validation) {
    const where = err.validationContext ?? 'request';
    return {
      status: 400,
      body: errorBody('STN_E_USAGE', err.message || `${where} is invalid`, {
        in: where,
        errors: schemaViolations(err.validation),
      }),
    };
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
    return { status: 413, body: errorBody('STN_E_BODY_TOO_LARGE', 'the request body is larger than server.maxBodyBytes') };
  }
  const status = err.statusCode ?? 500;
  if (typeof err.code === 'string' && err.code.startsWith('FST_') && status >= 400 && status < 500) {
    // Malformed JSON, unsupported media type, empty JSON body: the client's mistake, said in Fastify's words.
    return { status, body: errorBody('STN_E_USAGE', err.message, { fastify: err.code }) };
  }
  return undefined;
}

/** Installs the error and not-found handlers that give every failure the API's error shape. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof StationError) {
      if (err.httpStatus === 401) void reply.header('www-authenticate', 'Bearer realm="station"');
      const retryAfter = err.details?.retryAfterSeconds;
      if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
      if (err.httpStatus >= 500) req.log.error({ err, code: err.code }, 'request failed');
      return sendError(reply, err);
    }
    const mapped = fromFastify(err);
    if (mapped) return reply.code(mapped.status).send(mapped.body);
    const storage = storageProblemOf(err);
    if (storage) {
      // The store's health logs the episode once; a full or read-only database is not a bug in the request.
      req.log.debug({ err, error_type: storage }, 'request failed: the database cannot take writes');
      return reply
        .code(503)
        .header('retry-after', '5')
        .send(errorBody('STN_E_STORE_UNAVAILABLE', `the database cannot take writes now (${storage}); nothing was changed, try again later`, { reason: storage }));
    }
    req.log.error({ err }, 'unexpected error while answering a request');
    return reply
      .code(500)
      .send(errorBody('STN_E_INTERNAL', `internal error (request ${req.id}; the daemon log has the details)`));
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send(errorBody('STN_E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`)),
  );
}
