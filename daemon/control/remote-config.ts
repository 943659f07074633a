import { z } from 'zod';
import { parsePublicKey } from './signature.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/,
  'expected 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');

export const operatorKeySchema = z.strictObject({
  /** Who holds the key; recorded in every audit event of a command it signed. */
  name,
  /** Ed25519 public key: base64 of its 32 bytes (as `vigilctl keygen` prints it) or a PEM block. */
  public_key: z.string().min(1).superRefine((text, ctx) => {
    try {
      parsePublicKey(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  }),
});

/**
 * The `remote` block of vigil.yaml, kept beside the code that enforces it. Changing commands must
 * always be signed by one of `operators`; read-only ones may go unsigned when
 * `allow_unsigned_read` is set (the broker's ACL already limits who can publish commands).
 */
export const remoteSchema = z.strictObject({
  /** Subscribe to `vigil/v1/{site}/{device}/cmd/+` and answer requests (MQTT 5 only). */
  enabled: z.boolean().default(true),
  operators: z.array(operatorKeySchema).default([]),
  /** A signed command whose timestamp is further than this from the device's clock is refused. */
  max_skew_s: z.number().int().min(5).max(3600).default(300),
  allow_unsigned_read: z.boolean().default(true),
  /** Larger MQTT request payloads are refused unread. */
  max_request_bytes: z.number().int().min(1024).max(1_048_576).default(64 * 1024),
  /** Audit events recorded per minute at most; beyond that they are counted and the count is reported with the next one. */
  audit_per_minute: z.number().int().min(1).max(10_000).default(120),
});
export type RemoteConfig = z.infer<typeof remoteSchema>;
