import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { Auditor, type AuditEntry } from '../../daemon/control/audit.js';
import { Authoriser } from '../../daemon/control/authoriser.js';
import { handleLine, handleRequest, type ControlTarget } from '../../daemon/control/handler.js';
import { NonceCache } from '../../daemon/control/nonce-cache.js';
import { methodAccess, replySchema, requestSchema, type Reply } from '../../daemon/control/protocol.js';
import { rawPublicKey, signRequest } from '../../daemon/control/signature.js';
import { silentLogger } from '../../daemon/log.js';
import { settled } from '../helpers/replies.js';

const log = silentLogger();
const alice = generateKeyPairSync('ed25519');

/** A daemon's control plane as the handler sees it, counting every call that could change something. */
function setup(): { target: ControlTarget; calls: { restart: number; reads: number }; authoriser: Authoriser; nonces: NonceCache; audits: AuditEntry[] } {
  const calls = { restart: 0, reads: 0 };
  const audits: AuditEntry[] = [];
  const nonces = new NonceCache({ file: null, log });
  const authoriser = new Authoriser({
    device: { id: 'cam-1', site: 'lab' }, nonces, log,
    config: { operators: [{ name: 'alice', public_key: rawPublicKey(alice.publicKey).toString('base64') }], max_skew_s: 300, allow_unsigned_read: true },
    auditor: new Auditor((e) => audits.push(e), 1_000_000, log),
  });
  const target: ControlTarget = {
    status: () => { calls.reads += 1; return { ok: true }; },
    listEvents: () => { calls.reads += 1; return []; },
    restart: () => { calls.restart += 1; return { restarting: true }; },
  };
  return { target, calls, authoriser, nonces, audits };
}

const method = fc.oneof(
  fc.constantFrom('status', 'events.list', 'restart', 'streams.add', 'config.set', ''),
  fc.string({ maxLength: 40 }),
);
const authLike = fc.oneof(
  fc.anything(),
  fc.record({
    key_id: fc.oneof(fc.string(), fc.constant('ed25519:xxxxxxxxxxxxxxxxxxxxxx')),
    ts: fc.oneof(fc.integer(), fc.double(), fc.constant(Date.now())),
    nonce: fc.oneof(fc.string(), fc.base64String({ minLength: 16, maxLength: 64 })),
    sig: fc.oneof(fc.string(), fc.base64String({ minLength: 88, maxLength: 88 })),
  }, { requiredKeys: [] }),
  // Properly signed, then tampered with: another id than the one signed.
  fc.constant(null).map(() => signRequest(alice.privateKey, { target: 'lab/cam-1', method: 'restart', id: 'signed-id', params: undefined })),
);
const requestLike = fc.record({
  id: fc.oneof(fc.string({ maxLength: 200 }), fc.integer(), fc.constant(null)),
  method,
  params: fc.anything(),
  auth: authLike,
  extra: fc.anything(),
}, { requiredKeys: [] });

/** A request the policy lets through unsigned: the one kind that may be answered ok. */
function allowedRead(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { auth, ...rest } = v as Record<string, unknown>;
  const parsed = requestSchema.safeParse(rest);
  return auth === undefined && parsed.success && methodAccess(parsed.data.method) === 'read';
}

function assertError(reply: Reply, input: unknown): void {
  assert.ok(replySchema.safeParse(reply).success, 'a well-formed reply');
  assert.equal(reply.status, 'error', `answered ok to ${JSON.stringify(input)?.slice(0, 300)}`);
}

test('thousands of random and malformed requests: each answered with an error, nothing runs, nothing is remembered', () => {
  const s = setup();
  let count = 0;
  fc.assert(fc.property(fc.oneof(requestLike, fc.anything()), (input) => {
    fc.pre(!allowedRead(input));
    const reply = settled(handleRequest(s.target, input, log, s.authoriser.remoteGate));
    assertError(reply, input);
    count += 1;
  }), { numRuns: 4000, seed: 20261127 });
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json().map((j) => `${j}}`)), (line) => {
    const reply = settled(handleLine(s.target, line, log, s.authoriser.remoteGate));
    assertError(reply, line);
    count += 1;
  }), { numRuns: 2000, seed: 20261128 });
  assert.ok(count >= 5000, `${count} requests checked`);
  assert.equal(s.calls.restart, 0, 'no changing method ran');
  assert.equal(s.calls.reads, 0, 'no method ran at all');
  assert.equal(s.nonces.size, 0, 'no nonce was spent');
  assert.ok(s.audits.every((a) => a.outcome === 'refused'));
});
