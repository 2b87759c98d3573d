import type { z } from 'zod';
import { requestJson } from '../streams/nats/request-reply.js';
import { UserFacingError } from '../streams/util/user-error.js';
import type { Config } from './config.js';
import { connectAsCli } from './credentials.js';

export interface ControlPlaneRequest<Schema extends z.ZodType> {
  subject: string;
  body: unknown;
  schema: Schema;
  /** Who answers, in the error messages: "scheduler" or "control plane". */
  service: string;
  /** The connection's name, as nats-server lists it. */
  clientName: string;
  /** What to tell the user when nothing can have happened, and when it may have. */
  advice: { nothingDone: string; maybeDone: string };
}

/**
 * One request from the CLI to the running control plane (its scheduler or its fleet), as the
 * CLI identity; every way it can fail becomes an error that says what to do.
 */
export async function askControlPlane<Schema extends z.ZodType>(
  config: Config,
  request: ControlPlaneRequest<Schema>,
): Promise<z.infer<Schema>> {
  const { service, advice } = request;
  const nc = await connectAsCli(config, request.clientName);
  try {
    const reply = await requestJson(
      nc,
      request.subject,
      request.body,
      request.schema,
      config.requestTimeoutMs,
    );
    if (reply.ok) return reply.value;
    switch (reply.failure) {
      case 'no-responders':
        throw new UserFacingError(
          `no ${service} answers on NATS at ${config.natsUrl}: start the control plane with \`cloudai up\` ` +
            `or \`cloudai serve\`; ${advice.nothingDone}`,
        );
      case 'denied':
        throw new UserFacingError(
          `the NATS server refused this request (${reply.detail}): the credentials in use are not the CLI's, ` +
            `or the server's auth.conf predates this version (regenerate it with \`cloudai credentials cli\`); ${advice.nothingDone}`,
        );
      case 'timeout':
        throw new UserFacingError(
          `the ${service} did not answer within ${config.requestTimeoutMs} ms; ${advice.maybeDone}`,
        );
      default:
        throw new UserFacingError(
          `the ${service}'s answer was unusable (${reply.detail}); ${advice.maybeDone}`,
        );
    }
  } finally {
    await nc.close();
  }
}
