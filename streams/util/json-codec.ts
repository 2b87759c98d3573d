import type { z } from 'zod';

/**
 * JSON on the wire, validated by a zod schema. Decoding never throws, whatever the bytes:
 * one bad message must be counted and dropped, not crash the process that received it.
 */

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; detail: string };

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

export function encodeJson(value: unknown): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(value));
}

export function decodeJson<Schema extends z.ZodType>(
  payload: Uint8Array,
  schema: Schema,
): DecodeResult<z.infer<Schema>> {
  const json = parseJson(payload);
  if (!json.ok) return { ok: false, detail: `malformed JSON: ${json.detail}` };
  return validateJson(json.value, schema);
}

/** The payload's JSON, or why it is none (the parser's message). */
export function parseJson(payload: Uint8Array): DecodeResult<unknown> {
  try {
    return { ok: true, value: JSON.parse(utf8.decode(payload)) };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

/** Parsed JSON checked by `schema`; a rejection names the first issue as `path: message`. */
export function validateJson<Schema extends z.ZodType>(
  json: unknown,
  schema: Schema,
): DecodeResult<z.infer<Schema>> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, detail: `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}` };
}
