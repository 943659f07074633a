import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import { Auditor, type AuditClock, type AuditEntry, type AuditRecorder, AUDIT_EVENT_KIND } from '../../daemon/control/audit.js';
import { Authoriser } from '../../daemon/control/authoriser.js';
import type { ControlTarget } from '../../daemon/control/handler.js';
import { MqttCommands } from '../../daemon/control/mqtt-commands.js';
import { NonceCache } from '../../daemon/control/nonce-cache.js';
import { replySchema, type Reply } from '../../daemon/control/protocol.js';
import { rawPublicKey, signRequest } from '../../daemon/control/signature.js';
import { silentLogger } from '../../daemon/log.js';
import { auditOutbox } from '../../daemon/uplink/audit-message.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/shared.js';
import { device, mqttConfig, openStore, startUplink } from '../uplink/harness.js';

const base = `vigil/v1/${device.site}/${device.id}`;
const TARGET = `${device.site}/${device.id}`;

/** An operator at the hub: publishes requests with a response topic and collects the replies. */
class Operator {
  readonly replies = new Map<string, Reply>();
  private readonly replyTopic = `${base}/reply/operator/${randomUUID()}`;
  constructor(private readonly client: MqttClient) {
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      const corr = packet.properties?.correlationData;
      if (topic === this.replyTopic && corr) this.replies.set(corr.toString('hex'), replySchema.parse(JSON.parse(payload.toString())));
    });
  }
  async ready(): Promise<void> {
    await this.client.subscribeAsync(this.replyTopic, { qos: 1 });
  }
  async request(method: string, body: unknown): Promise<Reply> {
    const corr = randomBytes(8);
    await this.client.publishAsync(`${base}/cmd/${method}`, JSON.stringify(body), { qos: 1, properties: { correlationData: corr, responseTopic: this.replyTopic } });
    return waitFor(`a reply to ${method}`, () => this.replies.get(corr.toString('hex')), 5000);
  }
}

function signed(priv: KeyObject, method: string, id: string, params: unknown, ts = Date.now()): Record<string, unknown> {
  return { id, method, params, auth: signRequest(priv, { target: TARGET, method, id, params }, ts) };
}

/** The device side, as the daemon builds it: a real uplink to the broker, the authoriser and the command transport. */
async function device_(t: TestContext, auditor: (record: AuditRecorder) => Auditor): Promise<{
  audits: AuditEntry[]; restarts: () => number; operator: Operator; hub: MqttClient; alice: KeyObject; mallory: KeyObject;
}> {
  const broker = await startMosquitto(t);
  const store = await openStore(t);
  const uplink = startUplink(t, { config: mqttConfig(broker.url), outbox: store });
  await waitFor('the uplink to connect', () => uplink.status().connected || undefined);
  const audits: AuditEntry[] = [];
  const alice = generateKeyPairSync('ed25519');
  const mallory = generateKeyPairSync('ed25519');
  const log = silentLogger();
  let restarts = 0;
  const target: ControlTarget = { status: () => ({ ok: true }), listEvents: () => [], restart: () => ({ restarting: ++restarts }) };
  const authoriser = new Authoriser({
    device, log, nonces: new NonceCache({ file: null, log }),
    config: { operators: [{ name: 'alice', public_key: rawPublicKey(alice.publicKey).toString('base64') }], max_skew_s: 300, allow_unsigned_read: true },
    // Audit records go where the daemon puts them: the event store, whose outbox the uplink sends to the hub.
    // (as EventRecorder.recordAudit does; the store announces the row to the uplink itself)
    auditor: auditor((entry, severity) => {
      audits.push(entry);
      store.recordEvent({ ts: Date.now(), stream: 'control', rule: `command-${entry.outcome}`, severity, kind: AUDIT_EVENT_KIND,
        payload: { objects: [], audit: entry } }, auditOutbox(device));
    }),
  });
  const remote = new MqttCommands({ link: uplink, device, target, gate: authoriser.remoteGate, maxRequestBytes: 65536, log });
  await remote.start();
  t.after(() => remote.stop());
  const hub = await connectAsync(broker.url, { protocolVersion: 5, clientId: `hub-${randomUUID().slice(0, 8)}` });
  t.after(() => hub.endAsync(true));
  const operator = new Operator(hub);
  await operator.ready();
  return { audits, restarts: () => restarts, operator, hub, alice: alice.privateKey, mallory: mallory.privateKey };
}

const code = (r: Reply): string => (r.status === 'error' ? r.error.code : 'ok');
const message = (r: Reply): string => (r.status === 'error' ? r.error.message : '');

void test('unsigned or badly signed changing requests are refused and audited before their parameters are looked at', async (t) => {
  const d = await device_(t, (record) => new Auditor(record, 1000, silentLogger()));
  const bogusRule = { rule: { kind: 'zone', id: 7, zone: 'everywhere', extra: true } };

  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['rules.add', { id: 'u1', params: bogusRule }, /must be signed/],
    ['models.activate', { id: 'u2', params: { name: 7, fps: 'fast' } }, /must be signed/],
    // An unknown method counts as changing: the caller does not even learn that it is unknown.
    ['no.such.method', { id: 'u3', params: { x: 1 } }, /must be signed/],
    ['rules.add', signed(d.mallory, 'rules.add', 'u4', bogusRule), /unknown operator key/],
    ['rules.add', { ...signed(d.alice, 'rules.add', 'u5', bogusRule), params: { rule: { kind: 'line' } } }, /bad signature/],
  ];
  for (const [method, body, reason] of cases) {
    const reply = await d.operator.request(method, body);
    assert.equal(code(reply), 'not_authorised', `${method} ${JSON.stringify(reply)}`);
    assert.match(message(reply), reason);
    // No schema feedback: nothing about params, fields or expected types.
    assert.doesNotMatch(message(reply), /params|invalid input|expected|zone|fps|rule\./i, message(reply));
  }
  assert.deepEqual(d.audits.map((a) => [a.outcome, a.method, a.request_id]),
    [['refused', 'rules.add', 'u1'], ['refused', 'models.activate', 'u2'], ['refused', 'no.such.method', 'u3'], ['refused', 'rules.add', 'u4'], ['refused', 'rules.add', 'u5']]);

  // A caller with a valid signature does get the schema's feedback, and is not audited as accepted
  // for a request that never ran; the nonce stays unused.
  const badParams = await d.operator.request('models.activate', signed(d.alice, 'models.activate', 's1', { name: 7 }));
  assert.equal(code(badParams), 'bad_request', JSON.stringify(badParams));
  assert.match(message(badParams), /params\.name/);
  // A valid signed change passes both stages once: accepted, audited once, run once.
  const restart = await d.operator.request('restart', signed(d.alice, 'restart', 's2', undefined));
  assert.equal(code(restart), 'ok', JSON.stringify(restart));
  assert.equal(d.restarts(), 1);
  assert.deepEqual(d.audits.slice(5).map((a) => [a.outcome, a.method, a.operator]), [['accepted', 'restart', 'alice']]);
  // Reads stay as they were: unsigned allowed by policy, with feedback on bad parameters.
  const read = await d.operator.request('events.list', { id: 'r1', params: { limit: -1 } });
  assert.equal(code(read), 'bad_request', JSON.stringify(read));
  assert.equal(d.audits.length, 6);
});

/** Timers the test fires by hand: the minute's end comes when the test says so. */
function manualClock(): AuditClock & { t: number; pending: Map<number, { at: number; fn: () => void }>; advance(ms: number): void } {
  let next = 1;
  const c = {
    t: 1_800_000_000_000,
    pending: new Map<number, { at: number; fn: () => void }>(),
    now: () => c.t,
    setTimeout: (fn: () => void, ms: number) => { const id = next++; c.pending.set(id, { at: c.t + ms, fn }); return id; },
    clearTimeout: (h: unknown) => { c.pending.delete(h as number); },
    advance(ms: number) {
      c.t += ms;
      for (const [id, p] of [...c.pending]) if (p.at <= c.t) { c.pending.delete(id); p.fn(); }
    },
  };
  return c;
}

void test('a burst of refusals beyond audit_per_minute reaches the hub with its count, though nothing follows it', async (t) => {
  const clock = manualClock();
  const d = await device_(t, (record) => new Auditor(record, 2, silentLogger(), clock));
  const audited: { suppressed?: number; method: string; request_id: string | null }[] = [];
  d.hub.on('message', (topic: string, payload: Buffer) => {
    if (topic === `${base}/audit`) audited.push(JSON.parse(payload.toString()) as { suppressed?: number; method: string; request_id: string | null });
  });
  await d.hub.subscribeAsync(`${base}/audit`, { qos: 1 });

  for (let i = 0; i < 7; i++) {
    assert.equal(code(await d.operator.request('restart', { id: `x${i}` })), 'not_authorised');
  }
  await waitFor('the first two audit records at the hub', () => (audited.length >= 2 ? true : undefined));
  assert.equal(d.audits.length, 2, 'five left out, counted');
  assert.equal(clock.pending.size, 1, 'a report of the count is due at the end of the minute');

  clock.advance(60_000);
  const report = await waitFor('the count at the hub', () => audited.find((a) => a.suppressed !== undefined));
  // The newest refusal left out, recorded with the four left out before it: 2 + 1 + 4 = 7.
  assert.deepEqual([report.method, report.request_id, report.suppressed], ['restart', 'x6', 4]);
  assert.equal(d.audits.length, 3);
  assert.equal(clock.pending.size, 0);
});
