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
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(payload));
  } catch (error) {
    return { ok: false, detail: `malformed JSON: ${(error as Error).message}` };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, detail: `${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, value: parsed.data };
}
