import type { KeyObject } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Auditor } from './audit.js';
import type { Envelope, Gate } from './handler.js';
import type { NonceCache } from './nonce-cache.js';
import { authSchema, errorReply, methodAccess, STAGING_METHODS, type Reply, type Request } from './protocol.js';
import type { RemoteConfig } from './remote-config.js';
import { keyFingerprint, parsePublicKey, verifySignature } from './signature.js';

/**
 * Accepted changes are audited, but not the pieces of an upload: they change nothing until the
 * install that names them, which is audited (a package is a hundred pieces, which would crowd the
 * audit's rate limit and hide the records that matter). Refusals are audited for every method.
 */
const audited = (method: string): boolean => methodAccess(method) === 'change' && !STAGING_METHODS.has(method);

export interface AuthoriserOptions {
  device: { id: string; site: string };
  config: Pick<RemoteConfig, 'operators' | 'max_skew_s' | 'allow_unsigned_read'>;
  nonces: NonceCache;
  auditor: Auditor;
  log: Logger;
  now?: () => number;
}

/**
 * Who may run what. Remote requests: changing methods need an operator's signature, always;
 * read-only ones may go unsigned if the policy says so. A signature must come from a configured
 * key, over this device as target, within the allowed clock skew, with a nonce not seen before.
 * Every refusal and every accepted changing command is audited.
 *
 * The local socket is trusted by its file permissions (0660, group `vigil`): whoever can open it
 * can already read the config and the database. Its changing commands are audited, not checked.
 */
export class Authoriser {
  private readonly keys = new Map<string, { name: string; key: KeyObject }>();
  private readonly target: string;
  private readonly now: () => number;

  constructor(private readonly options: AuthoriserOptions) {
    for (const op of options.config.operators) {
      const key = parsePublicKey(op.public_key);
      this.keys.set(keyFingerprint(key), { name: op.name, key });
    }
    this.target = `${options.device.site}/${options.device.id}`;
    this.now = options.now ?? Date.now;
  }

  /**
   * The remote transport's gate. `admit` runs before the request is parsed: a changing request
   * (or one whose method is unknown, which counts as changing) without a valid signature is
   * refused and audited there, so an unsigned caller learns nothing about the parameters a method
   * takes. The gate proper runs after parsing and decides as before, consuming the nonce.
   */
  readonly remoteGate: Gate = Object.assign(
    (req: Request, envelope: Envelope) => this.checkRemote(req, envelope.auth, envelope.rawParams),
    { admit: (method: string, id: string | null, envelope: Envelope) => this.admitRemote(method, id, envelope) },
  );

  readonly socketGate: Gate = (req) => {
    if (audited(req.method)) {
      this.options.auditor.audit({ outcome: 'accepted', transport: 'socket', method: req.method, request_id: req.id, operator: 'local', key_id: null });
    }
    return null;
  };

  /** Before parsing: changing requests must carry a valid signature; the nonce is only checked, not used. */
  private admitRemote(method: string, id: string | null, envelope: Envelope): Reply | null {
    if (methodAccess(method) === 'read') return null;
    return this.verify({ method: method.slice(0, 64), id }, envelope.auth, envelope.rawParams, false).refusal;
  }

  private checkRemote(req: Request, rawAuth: unknown, rawParams: unknown): Reply | null {
    const verdict = this.verify(req, rawAuth, rawParams, true);
    if (verdict.refusal !== null || verdict.operator === null) return verdict.refusal;
    if (audited(req.method)) {
      this.options.auditor.audit({ outcome: 'accepted', transport: 'mqtt', method: req.method, request_id: req.id, operator: verdict.operator, key_id: verdict.keyId });
    }
    // A verdict is stored with who gave it: the operator whose key signed, not what the request claims.
    if (req.method === 'events.ack') req.params.by = `hub:${verdict.operator}`;
    return null;
  }

  /**
   * Checks a request's signature envelope; every refusal is audited. An unsigned read allowed by
   * the policy passes with no operator. `useNonce` false only checks that the nonce is unused, so
   * the check after parsing can run it again and consume it.
   */
  private verify(req: { method: string; id: string | null }, rawAuth: unknown, rawParams: unknown, useNonce: boolean):
  { refusal: Reply | null; operator: string | null; keyId: string | null } {
    const access = methodAccess(req.method);
    let keyId: string | null = null;
    let operator: string | null = null;
    const refuse = (reason: string): { refusal: Reply; operator: null; keyId: null } => {
      this.options.auditor.audit({ outcome: 'refused', transport: 'mqtt', method: req.method, request_id: req.id, operator, key_id: keyId, reason });
      return { refusal: errorReply(req.id, 'not_authorised', reason), operator: null, keyId: null };
    };
    if (rawAuth === undefined) {
      if (access === 'read' && this.options.config.allow_unsigned_read) return { refusal: null, operator: null, keyId: null };
      return refuse(access === 'read' ? 'unsigned requests are not allowed here (remote.allow_unsigned_read is false)'
        : `"${req.method}" changes the device: it must be signed by an operator key`);
    }
    const parsed = authSchema.safeParse(rawAuth);
    if (!parsed.success) {
      return refuse(`malformed auth: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'auth'}: ${i.message}`).join('; ')}`.slice(0, 300));
    }
    const auth = parsed.data;
    keyId = auth.key_id;
    const op = this.keys.get(auth.key_id);
    if (!op) return refuse(`unknown operator key ${auth.key_id}`);
    operator = op.name;
    const skewMs = this.now() - auth.ts;
    const maxMs = this.options.config.max_skew_s * 1000;
    if (skewMs > maxMs) return refuse(`stale: signed ${Math.round(skewMs / 1000)} s ago, more than the allowed ${this.options.config.max_skew_s} s`);
    if (-skewMs > maxMs) return refuse(`from the future: signed ${Math.round(-skewMs / 1000)} s ahead of the device's clock, more than the allowed ${this.options.config.max_skew_s} s`);
    if (req.id === null) return refuse('bad signature: a signed request needs a string id');
    const fields = { target: this.target, method: req.method, id: req.id, params: rawParams, ts: auth.ts, nonce: auth.nonce };
    if (!verifySignature(op.key, fields, auth.sig)) {
      return refuse('bad signature: not made by this key over this request for this device');
    }
    const nonceKey = `${auth.key_id}:${auth.nonce}`;
    if (this.options.nonces.has(nonceKey)) return refuse('replayed: this nonce was already used');
    // Kept until its timestamp leaves the window in either direction; after that the clock check refuses it.
    if (useNonce && !this.options.nonces.add(nonceKey, auth.ts + maxMs)) return refuse('too many recent signed commands (nonce cache full)');
    return { refusal: null, operator, keyId };
  }
}
