import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { Auditor, type AuditEntry } from '../../daemon/control/audit.js';
import { Authoriser } from '../../daemon/control/authoriser.js';
import { handleRequest, type ControlTarget } from '../../daemon/control/handler.js';
import { NonceCache } from '../../daemon/control/nonce-cache.js';
import { methodAccess, type Reply } from '../../daemon/control/protocol.js';
import { canonicalJson, keyFingerprint, parsePublicKey, rawPublicKey, signRequest } from '../../daemon/control/signature.js';
import { silentLogger } from '../../daemon/log.js';
import { tempDir } from '../helpers/shared.js';
import { settled } from '../helpers/replies.js';

const device = { id: 'cam-1', site: 'lab' };
const TARGET = 'lab/cam-1';

function keyPair(): { priv: KeyObject; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { priv: privateKey, pub: rawPublicKey(publicKey).toString('base64') };
}

interface Rig {
  run(body: Record<string, unknown>): Reply;
  audits: AuditEntry[];
  restarts: number;
  clock: { now: number };
  nonces: NonceCache;
}

function rig(dir: string | null, opts: { allowUnsignedRead?: boolean; operators?: { name: string; public_key: string }[] } = {}): Rig {
  const audits: AuditEntry[] = [];
  const clock = { now: 1_800_000_000_000 };
  const log = silentLogger();
  const nonces = new NonceCache({ file: dir === null ? null : path.join(dir, 'nonces.json'), log, now: () => clock.now });
  const authoriser = new Authoriser({
    device, nonces, log, now: () => clock.now,
    config: { operators: opts.operators ?? [], max_skew_s: 300, allow_unsigned_read: opts.allowUnsignedRead ?? true },
    auditor: new Auditor((e) => audits.push(e), 1000, log, () => clock.now),
  });
  const r: Rig = {
    audits, clock, nonces, restarts: 0,
    run: (body) => settled(handleRequest(target, body, log, authoriser.remoteGate)),
  };
  const target: ControlTarget = {
    status: () => ({ ok: true }),
    listEvents: () => [],
    restart: () => { r.restarts += 1; return { restarting: true }; },
  };
  return r;
}

const code = (r: Reply): string => (r.status === 'error' ? r.error.code : 'ok');

function signed(priv: KeyObject, method: string, id: string, ts: number, params?: unknown, target = TARGET): Record<string, unknown> {
  return { id, method, ...(params !== undefined ? { params } : {}), auth: signRequest(priv, { target, method, id, params }, ts) };
}

test('the canonical encoding sorts keys at every level and the fingerprint is stable', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null }, u: undefined }), '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  const { priv, pub } = keyPair();
  const key = parsePublicKey(pub);
  assert.match(keyFingerprint(key), /^ed25519:[A-Za-z0-9_-]{22}$/);
  assert.equal(signRequest(priv, { target: TARGET, method: 'status', id: 'x', params: undefined }).key_id, keyFingerprint(key));
  assert.throws(() => parsePublicKey('not-a-key'), /32-byte Ed25519/);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
  assert.throws(() => parsePublicKey(rsa), /expected an Ed25519 key, not rsa/);
});

test('read-only methods are listed; any other method counts as changing', () => {
  assert.equal(methodAccess('status'), 'read');
  assert.equal(methodAccess('events.list'), 'read');
  assert.equal(methodAccess('restart'), 'change');
  assert.equal(methodAccess('streams.add'), 'change', 'a method added later is changing until classified');
});

test('each kind of unauthorised remote request is refused with not_authorised and audited; the target is untouched', async (t) => {
  const alice = keyPair();
  const mallory = keyPair();
  const r = rig(await tempDir(t), { operators: [{ name: 'alice', public_key: alice.pub }] });
  const now = r.clock.now;
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['unsigned changing', { id: 'a', method: 'restart' }, /"restart" changes the device: it must be signed/],
    ['unknown key', signed(mallory.priv, 'restart', 'b', now), /unknown operator key ed25519:/],
    ['stale', signed(alice.priv, 'restart', 'c', now - 301_000), /stale: signed 301 s ago/],
    ['future', signed(alice.priv, 'restart', 'd', now + 301_000), /from the future: signed 301 s ahead/],
    ['for another device', signed(alice.priv, 'restart', 'e', now, undefined, 'lab/cam-2'), /bad signature/],
    ['params altered', { ...signed(alice.priv, 'events.list', 'f', now, { limit: 1 }), params: { limit: 9999 } }, /bad signature/],
    ['malformed auth', { id: 'g', method: 'restart', auth: { key_id: 'x' } }, /malformed auth: ts: /],
  ];
  for (const [what, body, reason] of cases) {
    const reply = r.run(body);
    assert.equal(code(reply), 'not_authorised', what);
    assert.ok(reply.status === 'error' && reason.test(reply.error.message), `${what}: ${JSON.stringify(reply)}`);
  }
  assert.equal(r.restarts, 0);
  assert.equal(r.audits.length, cases.length);
  assert.ok(r.audits.every((a) => a.outcome === 'refused' && a.transport === 'mqtt' && a.reason !== undefined));
  assert.deepEqual(r.audits.map((a) => a.request_id), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  assert.equal(r.audits[1]?.operator, null, 'an unknown key has no operator name');
  assert.equal(r.audits[2]?.operator, 'alice');
  assert.equal(r.nonces.size, 0, 'no refused request spends a nonce');
});

test('a signed changing command runs once and is audited; its replay is refused, also after a restart', async (t) => {
  const dir = await tempDir(t);
  const alice = keyPair();
  const operators = [{ name: 'alice', public_key: alice.pub }];
  const r = rig(dir, { operators });
  const body = signed(alice.priv, 'restart', 'r1', r.clock.now - 5000);
  assert.equal(code(r.run(body)), 'ok');
  assert.equal(r.restarts, 1);
  assert.deepEqual(r.audits.map((a) => [a.outcome, a.operator, a.method]), [['accepted', 'alice', 'restart']]);

  const replay = r.run(body);
  assert.ok(replay.status === 'error' && replay.error.code === 'not_authorised' && /replayed/.test(replay.error.message));
  assert.equal(r.restarts, 1);

  // A fresh daemon reads the nonces kept in the state directory.
  const again = rig(dir, { operators });
  again.clock.now = r.clock.now + 1000;
  const replay2 = again.run(body);
  assert.ok(replay2.status === 'error' && /replayed/.test(replay2.error.message), JSON.stringify(replay2));
  assert.equal(again.restarts, 0);
  assert.equal(again.audits[0]?.outcome, 'refused');

  // Once the window has passed the nonce is forgotten, and the timestamp alone refuses the replay.
  again.clock.now += 400_000;
  const late = again.run(body);
  assert.ok(late.status === 'error' && /stale/.test(late.error.message));
});

test('read-only requests may be unsigned by policy; signed ones are checked all the same', async (t) => {
  const alice = keyPair();
  const open = rig(await tempDir(t), { operators: [{ name: 'alice', public_key: alice.pub }] });
  assert.equal(code(open.run({ id: '1', method: 'status' })), 'ok');
  assert.equal(code(open.run(signed(alice.priv, 'events.list', '2', open.clock.now, { limit: 3 }))), 'ok');
  assert.equal(code(open.run({ ...signed(alice.priv, 'status', '3', open.clock.now), id: '4' })), 'not_authorised');
  assert.equal(open.audits.length, 1, 'accepted reads are not audited; the refused one is');

  const closed = rig(null, { allowUnsignedRead: false, operators: [{ name: 'alice', public_key: alice.pub }] });
  const reply = closed.run({ id: '1', method: 'status' });
  assert.ok(reply.status === 'error' && reply.error.code === 'not_authorised' && /allow_unsigned_read/.test(reply.error.message));
  assert.equal(code(closed.run(signed(alice.priv, 'status', '2', closed.clock.now))), 'ok');
});

test('audit records are limited per minute; the count left out travels with the next one', () => {
  const records: AuditEntry[] = [];
  const clock = { now: 0 };
  const auditor = new Auditor((e) => records.push(e), 3, silentLogger(), () => clock.now);
  const entry = { outcome: 'refused' as const, transport: 'mqtt' as const, method: 'restart', request_id: null, operator: null, key_id: null, reason: 'x' };
  for (let i = 0; i < 10; i++) auditor.audit(entry);
  assert.equal(records.length, 3);
  clock.now = 60_000;
  auditor.audit(entry);
  assert.equal(records.length, 4);
  assert.equal(records[3]?.suppressed, 7);
});

test('a full nonce cache refuses new signed commands rather than forgetting old nonces', () => {
  const clock = { now: 1000 };
  const cache = new NonceCache({ file: null, maxEntries: 2, log: silentLogger(), now: () => clock.now });
  assert.ok(cache.add('a', 5000));
  assert.ok(cache.add('b', 5000));
  assert.equal(cache.add('c', 5000), false);
  assert.ok(cache.has('a'));
  clock.now = 6000;
  assert.ok(cache.add('c', 9000), 'expired entries make room');
  assert.equal(cache.has('a'), false);
});
