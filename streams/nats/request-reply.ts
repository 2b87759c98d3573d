import {
  type Msg,
  type NatsConnection,
  PermissionViolationError,
  RequestError,
  type Subscription,
  TimeoutError,
} from '@nats-io/transport-node';
import type { z } from 'zod';
import { decodeJson, encodeJson } from '../util/json-codec.js';
import type { Logger } from '../util/logger.js';

/** `denied`: this identity may not publish on the subject (nothing was sent). */
export type RequestFailure = 'no-responders' | 'timeout' | 'denied' | 'malformed-reply' | 'error';

export type RequestResult<T> =
  | { ok: true; value: T }
  | { ok: false; failure: RequestFailure; detail: string };

/**
 * A JSON request over core NATS (the body is encoded here unless it already is bytes) whose reply is validated by `schema`. Never throws: callers
 * decide what "nobody listens" and "nobody answered in time" mean for them.
 */
export async function requestJson<Schema extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  schema: Schema,
  timeoutMs: number,
): Promise<RequestResult<z.infer<Schema>>> {
  try {
    const payload = body instanceof Uint8Array ? body : encodeJson(body);
    const reply = await nc.request(subject, payload, { timeout: timeoutMs });
    const decoded = decodeJson(reply.data, schema);
    return decoded.ok
      ? { ok: true, value: decoded.value }
      : { ok: false, failure: 'malformed-reply', detail: `unreadable reply (${decoded.detail})` };
  } catch (error) {
    if (error instanceof RequestError && error.isNoResponders()) {
      return { ok: false, failure: 'no-responders', detail: `nobody listens on ${subject}` };
    }
    if (
      error instanceof PermissionViolationError ||
      (error as Error).cause instanceof PermissionViolationError
    ) {
      return { ok: false, failure: 'denied', detail: `not allowed to publish on ${subject}` };
    }
    if (error instanceof TimeoutError || (error as Error).cause instanceof TimeoutError) {
      return { ok: false, failure: 'timeout', detail: `no answer within ${timeoutMs} ms` };
    }
    return { ok: false, failure: 'error', detail: (error as Error).message ?? String(error) };
  }
}

export interface ServeJsonOptions<Reply> {
  /** One member of the group answers each request, should several processes listen; none: each listener answers. */
  queue?: string;
  logger: Logger;
  /** Computes the reply; it should answer refusals itself and throw only on a failure of its own. */
  handle: (msg: Msg) => Promise<Reply>;
  /** The reply when `handle` throws (the error is logged with its stack). */
  onFailure: (error: Error) => Reply;
}

/**
 * Answers JSON requests on `subject` until the subscription is drained: every request gets a
 * reply, a handler's failure included, so no client waits out its timeout for nothing.
 */
export function serveJsonRequests<Reply>(
  nc: NatsConnection,
  subject: string,
  options: ServeJsonOptions<Reply>,
): Subscription {
  return nc.subscribe(subject, {
    ...(options.queue ? { queue: options.queue } : {}),
    callback: (error, msg) => {
      if (error) {
        options.logger.warn(`${subject}: ${error.message}`);
        return;
      }
      options
        .handle(msg)
        .catch((handlerError: Error) => {
          options.logger.error(`${subject} handler failed: ${handlerError.stack ?? handlerError}`);
          return options.onFailure(handlerError);
        })
        .then((reply) => msg.respond(encodeJson(reply)));
    },
  });
}
