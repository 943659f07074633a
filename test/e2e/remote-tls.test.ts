import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Output } from '../../cli/output.js';
import { runVigilctl } from '../../cli/run.js';
import { auditEntrySchema } from '../../daemon/control/audit.js';
import { methodAccess, replySchema, requestSchema, type Reply } from '../../daemon/control/protocol.js';
import { keyFingerprint, rawPublicKey, signRequest } from '../../daemon/control/signature.js';
import { auditMessageSchema, type StatePayload } from '../../daemon/uplink/payloads.js';
import { makePki, type CertFiles } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, tempDir, waitFor } from '../helpers/shared.js';
import { openDb, spawnDaemon, writeConfig, type Daemon } from './daemon-harness.js';

interface Ran { code: number; out: string; err: string; ms: number }

async function vigilctl(args: string[]): Promise<Ran> {
  const out: string[] = [];
  const err: string[] = [];
  const output: Output = { raw: (t) => out.push(t), result: (j, v, h) => out.push(j ? JSON.stringify(v) : h), error: (t) => err.push(t) };
  const started = performance.now();
  const code = await runVigilctl(args, output);
  return { code, out: out.join('\n'), err: err.join('\n'), ms: performance.now() - started };
}

/** The example config from docs/mosquitto, pointed at the test's files and a free loopback port. */
function exampleBrokerConfig(): { lines: string[]; acl: string } {
  const conf = readFileSync(path.join(repoRoot, 'docs', 'mosquitto', 'mosquitto.conf'), 'utf8');
  const lines = conf.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('persistence'))
    .map((l) => l.replaceAll('/etc/mosquitto/vigil/', '{dir}/').replace(/^listener 8883$/, 'listener {port} 127.0.0.1'));
  assert.ok(lines.includes('use_identity_as_username true') && lines.includes('require_certificate true'));
  return { lines, acl: readFileSync(path.join(repoRoot, 'docs', 'mosquitto', 'acl'), 'utf8') };
}

async function mqttAs(url: string, ca: string, who: CertFiles): Promise<MqttClient> {
  const client = await connectAsync(url, {
    protocolVersion: 5, clean: true, reconnectPeriod: 0, clientId: `test-${randomUUID().slice(0, 8)}`,
    ca: readFileSync(ca), cert: readFileSync(who.cert), key: readFileSync(who.key),
  }, false);
  client.on('error', () => undefined);
  return client;
}

/** Sends raw payloads as an operator would and collects the replies by correlation data. */
class Requester {
  readonly replies = new Map<string, Reply>();
  private readonly replyTopic = `vigil/v1/lab/cam-1/reply/operator-alice/${randomUUID()}`;
  constructor(readonly client: MqttClient) {
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
      const corr = packet.properties?.correlationData;
      if (topic === this.replyTopic && corr) this.replies.set(corr.toString('hex'), replySchema.parse(JSON.parse(payload.toString())));
    });
  }
  async ready(): Promise<void> {
    await this.client.subscribeAsync(this.replyTopic, { qos: 1 });
  }
  async send(method: string, payload: string | Buffer, opts: { responseTopic?: string | null } = {}): Promise<string> {
    const corr = randomBytes(8);
    const responseTopic = opts.responseTopic === undefined ? this.replyTopic : opts.responseTopic;
    await this.client.publishAsync(`vigil/v1/lab/cam-1/cmd/${method}`, payload, {
      qos: 1, properties: { correlationData: corr, ...(responseTopic !== null ? { responseTopic } : {}) },
    });
    return corr.toString('hex');
  }
  async request(method: string, body: unknown): Promise<Reply> {
    const corr = await this.send(method, JSON.stringify(body));
    return waitFor(`a reply to ${method}`, () => this.replies.get(corr), 5000);
  }
}

/** Parses as a request once the transport has set the envelope aside, as the daemon will see it. */
function wellFormed(line: string): boolean {
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const rest = { ...(v as Record<string, unknown>) };
    delete rest['auth'];
    return requestSchema.safeParse(rest).success;
  } catch {
    return false;
  }
}

function allowedRead(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const { auth, ...rest } = v as Record<string, unknown>;
  const parsed = requestSchema.safeParse(rest);
  return auth === undefined && parsed.success && methodAccess(parsed.data.method) === 'read';
}

test('remote management through a TLS mosquitto with client certificates and the example ACL', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const pki = makePki(dir, {
    broker: { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' },
    cam1: { cn: 'lab/cam-1' }, cam2: { cn: 'lab/cam-2' }, alice: { cn: 'operator-alice' }, hub: { cn: 'hub' },
  });
  const L = pki.leaves as Record<'broker' | 'cam1' | 'cam2' | 'alice' | 'hub', CertFiles>;
  const example = exampleBrokerConfig();
  const broker = await startMosquitto(t, {
    listener: { lines: example.lines, scheme: 'mqtts' },
    files: {
      acl: example.acl, 'ca.pem': readFileSync(pki.ca, 'utf8'),
      'broker.pem': readFileSync(L.broker.cert, 'utf8'), 'broker.key': readFileSync(L.broker.key, 'utf8'),
    },
  });

  // Operator keys: alice's is configured on the device, mallory's is not.
  const aliceKey = generateKeyPairSync('ed25519');
  const aliceKeyFile = path.join(dir, 'alice-signing.pem');
  writeFileSync(aliceKeyFile, aliceKey.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const malloryKeyFile = path.join(dir, 'mallory-signing.pem');
  const keygen = await vigilctl(['keygen', '--out', malloryKeyFile, '--name', 'mallory', '--json']);
  assert.equal(keygen.code, 0, keygen.err);
  assert.match((JSON.parse(keygen.out) as { key_id: string }).key_id, /^ed25519:/);

  const socket = path.join(dir, 'vigild.sock');
  const state = path.join(dir, 'state');
  const config = await writeConfig(dir, {
    device: { id: 'cam-1', site: 'lab' }, storage: { dir: state },
    mqtt: { url: broker.url, ca: pki.ca, cert: L.cam1.cert, key: L.cam1.key },
    streams: [{ id: 'pattern', uri: 'test://ball?width=160&height=120&fps=5', fps: 2 }],
    telemetry: { interval_s: 3600, prometheus: { enabled: false } },
    remote: { operators: [{ name: 'alice', public_key: rawPublicKey(aliceKey.publicKey).toString('base64') }], max_skew_s: 60 },
  });
  const start = async (): Promise<Daemon> => {
    const d = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
    await d.waitForLine('the device connected with its certificate', (l) => l.msg === 'connected to the MQTT broker', 30_000);
    await d.waitForLine('vigild running', (l) => l.msg === 'vigild running', 30_000);
    return d;
  };
  let vigild = await start();

  // The hub's consumer sees everything devices send, commands included.
  const hub = await mqttAs(broker.url, pki.ca, L.hub);
  t.after(() => hub.endAsync(true));
  const seen: { topic: string; payload: Buffer; packet: IPublishPacket }[] = [];
  hub.on('message', (topic, payload, packet) => seen.push({ topic, payload, packet }));
  await hub.subscribeAsync('vigil/v1/#', { qos: 1 });

  // A second device, known to the hub only by the retained offline state its last will left.
  const cam2 = await mqttAs(broker.url, pki.ca, L.cam2);
  const cam2State: StatePayload = { schema: 'vigil.state/1', state: 'offline', device: 'cam-2', site: 'lab', version: '0.1.0',
    ts: '2026-11-27T08:00:00.000Z', streams: [], providers: [] };
  await cam2.publishAsync('vigil/v1/lab/cam-2/state', JSON.stringify(cam2State), { qos: 1, retain: true });

  const hubArgs = ['--hub', broker.url, '--ca', pki.ca, '--cert', L.alice.cert, '--key', L.alice.key];
  const cam1Args = [...hubArgs, '--device', 'lab/cam-1'];

  // --- vigilctl through the hub: unsigned read allowed by the default policy, signed read too.
  const status = await vigilctl([...cam1Args, 'status', '--json']);
  assert.equal(status.code, 0, status.err);
  assert.deepEqual((JSON.parse(status.out) as { device: unknown }).device, { id: 'cam-1', site: 'lab' });
  t.diagnostic(`vigilctl status through the TLS hub (connect, request, reply): ${status.ms.toFixed(0)} ms`);
  const human = await vigilctl([...cam1Args, '--operator-key', aliceKeyFile, 'status']);
  assert.equal(human.code, 0, human.err);
  assert.match(human.out, /^device lab\/cam-1 {2}vigil /);
  assert.match(human.out, /uplink: connected mqtts:\/\/127\.0\.0\.1:\d+/);

  const top = await vigilctl([...cam1Args, 'top', '--interval', '0.1', '--iterations', '2']);
  assert.equal(top.code, 0, top.err);
  assert.equal(top.out.split('\n').filter((l) => l.startsWith('device lab/cam-1')).length, 2, 'two refreshes over one connection');

  // --- the same over the local socket.
  const local = await vigilctl(['status', '--socket', socket, '--json']);
  assert.equal(local.code, 0, local.err);

  // --- refused: unsigned changing command, unknown key; each exit 4.
  const unsigned = await vigilctl([...cam1Args, 'restart']);
  assert.equal(unsigned.code, 4, unsigned.err);
  assert.match(unsigned.err, /not_authorised: "restart" changes the device: it must be signed/);
  const mallory = await vigilctl([...cam1Args, '--operator-key', malloryKeyFile, 'restart']);
  assert.equal(mallory.code, 4, mallory.err);
  assert.match(mallory.err, /unknown operator key ed25519:/);

  // --- a device's certificate cannot send commands, nor publish under another device's prefix.
  const asDevice = await vigilctl(['--hub', broker.url, '--ca', pki.ca, '--cert', L.cam2.cert, '--key', L.cam2.key, '--device', 'lab/cam-1', 'status']);
  assert.equal(asDevice.code, 4, asDevice.err);
  assert.match(asDevice.err, /not authorised to publish on vigil\/v1\/lab\/cam-1\/cmd\//);
  await assert.rejects(cam2.publishAsync('vigil/v1/lab/cam-1/alerts', '{}', { qos: 1 }), (e: { code?: number }) => e.code === 135);
  await assert.rejects(cam2.publishAsync('vigil/v1/lab/cam-1/state', '{}', { qos: 1, retain: true }), (e: { code?: number }) => e.code === 135);
  await assert.rejects(cam2.publishAsync('vigil/v1/lab/cam-2/cmd/restart', '{}', { qos: 1 }), (e: { code?: number }) => e.code === 135);
  await cam2.endAsync(true);

  // --- replayed nonce and stale timestamp, sent raw as an operator.
  const alice = await mqttAs(broker.url, pki.ca, L.alice);
  t.after(() => alice.endAsync(true));
  const req = new Requester(alice);
  await req.ready();
  const signedList = { id: 'list-1', method: 'events.list', params: { limit: 2 },
    auth: signRequest(aliceKey.privateKey, { target: 'lab/cam-1', method: 'events.list', id: 'list-1', params: { limit: 2 } }) };
  assert.equal((await req.request('events.list', signedList)).status, 'ok');
  const replay = await req.request('events.list', signedList);
  assert.ok(replay.status === 'error' && replay.error.code === 'not_authorised' && /replayed/.test(replay.error.message), JSON.stringify(replay));
  const staleBody = { id: 'stale-1', method: 'restart',
    auth: signRequest(aliceKey.privateKey, { target: 'lab/cam-1', method: 'restart', id: 'stale-1', params: undefined }, Date.now() - 600_000) };
  const stale = await req.request('restart', staleBody);
  assert.ok(stale.status === 'error' && stale.error.code === 'not_authorised' && /stale/.test(stale.error.message), JSON.stringify(stale));

  // --- no response topic: dropped, with a log line; a response topic outside the device's reply prefix: dropped.
  const from = vigild.lines.length;
  await req.send('status', JSON.stringify({ id: 'nrt', method: 'status' }), { responseTopic: null });
  await vigild.waitForLine('the drop logged', (l) => l.msg.startsWith('command without a response topic dropped'), 5000, from);
  await req.send('status', JSON.stringify({ id: 'elsewhere', method: 'status' }), { responseTopic: 'vigil/v1/lab/cam-2/alerts' });
  await vigild.waitForLine('the drop logged', (l) => /outside this device's reply prefix/.test(l.msg), 5000, from);

  // --- a few hundred random requests over MQTT and over the socket: each an error reply.
  const inputs = fc.sample(fc.oneof(
    fc.record({ id: fc.string({ maxLength: 20 }), method: fc.constantFrom('restart', 'status', 'bogus'), params: fc.anything(), auth: fc.anything() }, { requiredKeys: [] }),
    fc.anything(),
  ), { numRuns: 300, seed: 42 }).filter((v) => !allowedRead(v));
  const methods = ['restart', 'status', 'events.list', 'no.such', 'x'.repeat(60)];
  const corrs = await Promise.all(inputs.map((v, i) => req.send(methods[i % methods.length] ?? 'x', JSON.stringify(v) ?? 'undefined')));
  corrs.push(await req.send('status', Buffer.alloc(70 * 1024, 0x20)));
  await waitFor('a reply to every random request', () => (corrs.every((c) => req.replies.has(c)) ? true : undefined), 20_000, 50);
  t.diagnostic(`${corrs.length} random requests over MQTT answered`);
  const errors = corrs.map((c) => req.replies.get(c)).filter((r) => r?.status === 'error');
  assert.equal(errors.length, corrs.length, 'every random request answered with an error');
  assert.equal(req.replies.get(corrs.at(-1) ?? '')?.status === 'error' ? (req.replies.get(corrs.at(-1) ?? '') as { error: { code: string } }).error.code : '', 'too_large');

  const socketReplies = await new Promise<Reply[]>((resolve, reject) => {
    const s = net.connect(socket);
    let buf = '';
    // The socket is trusted: a well-formed restart there is a real restart, so only malformed lines go.
    const lines = inputs.map((v) => (JSON.stringify(v) ?? 'undefined').replaceAll('\n', ' '))
      .filter((l) => !wellFormed(l)).slice(0, 200);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${lines.join('\n')}\n`));
    s.on('data', (c: string) => {
      buf += c;
      const got = buf.split('\n').filter(Boolean);
      if (got.length >= lines.length) { s.end(); resolve(got.map((l) => replySchema.parse(JSON.parse(l)))); }
    });
    s.on('error', reject);
  });
  assert.ok(socketReplies.length >= 150);
  assert.ok(socketReplies.every((r) => r.status === 'error'), 'every malformed line answered with an error');

  // The daemon is unaffected: alive, same stream, still answering.
  assert.equal(vigild.child.exitCode, null);
  const after = await vigilctl([...cam1Args, 'status', '--json']);
  assert.equal(after.code, 0, after.err);
  assert.deepEqual((JSON.parse(after.out) as { streams: { id: string }[] }).streams.map((s) => s.id), ['pattern']);

  // --- fleet: both devices from their retained states; the offline one exits 3 with last seen.
  const fleet = await vigilctl([...hubArgs, 'fleet', 'ls', '--site', 'lab', '--json']);
  assert.equal(fleet.code, 0, fleet.err);
  assert.deepEqual((JSON.parse(fleet.out) as StatePayload[]).map((s) => [s.device, s.state]), [['cam-1', 'online'], ['cam-2', 'offline']]);
  const fleetHuman = await vigilctl([...hubArgs, 'fleet', 'ls']);
  assert.match(fleetHuman.out, /\nlab +cam-2 +offline +2026-11-27T08:00:00\.000Z/);

  const offline = await vigilctl([...hubArgs, '--device', 'lab/cam-2', '--timeout', '2', 'status']);
  assert.equal(offline.code, 3, offline.err);
  assert.match(offline.err, /lab\/cam-2 did not answer within 2 s; last seen 2026-11-27T08:00:00\.000Z \(state offline\)/);
  // The timeout covers the whole call, connecting to the hub included.
  assert.ok(offline.ms >= 1900 && offline.ms < 2600, `exit 3 at the timeout (${offline.ms.toFixed(0)} ms)`);
  t.diagnostic(`offline device, --timeout 2: exit 3 after ${offline.ms.toFixed(0)} ms`);

  const many = await vigilctl([...hubArgs, '--device', 'lab/*', '--timeout', '3', 'status', '--json']);
  assert.equal(many.code, 3, many.err);
  const rows = JSON.parse(many.out) as { device: string; exit: number; error?: string; output?: { device: unknown } }[];
  assert.deepEqual(rows.map((r) => [r.device, r.exit]), [['lab/cam-1', 0], ['lab/cam-2', 3]]);
  assert.deepEqual(rows[0]?.output?.device, { id: 'cam-1', site: 'lab' });
  assert.match(rows[1]?.error ?? '', /last seen 2026-11-27T08:00:00\.000Z/);
  const manyHuman = await vigilctl([...hubArgs, '--device', 'lab/*', '--timeout', '3', 'status']);
  assert.match(manyHuman.out, /^DEVICE +EXIT +RESULT\nlab\/cam-1 +0 +device lab\/cam-1 {2}vigil .*\nlab\/cam-2 +3 +lab\/cam-2 did not answer/);

  // --- events through the hub: the daemon reads its own store (the refusals above are there).
  // The random requests above are mostly unsigned changes, each refused and audited (up to
  // audit_per_minute), so the earlier refusals lie further back than the newest 50.
  const events = await vigilctl([...cam1Args, 'events', 'list', '--limit', '500', '--json']);
  assert.equal(events.code, 0, events.err);
  const listed = JSON.parse(events.out) as { kind: string; rule: string; payload: { audit?: { reason?: string } } }[];
  assert.ok(listed.some((e) => e.kind === 'audit' && e.rule === 'command-refused' && /unknown operator key/.test(e.payload.audit?.reason ?? '')));
  const localOnly = await vigilctl([...cam1Args, 'doctor']);
  assert.equal(localOnly.code, 2);
  assert.match(localOnly.err, /"doctor" works on this machine only/);

  // --- a signed restart: accepted, audited, the daemon exits for systemd to start it again.
  const restart = await vigilctl([...cam1Args, '--operator-key', aliceKeyFile, 'restart']);
  assert.equal(restart.code, 0, restart.err);
  assert.equal(restart.out, 'restarting');
  const exit = await vigild.waitForExit(10_000);
  assert.equal(exit.code, 75, 'EX_TEMPFAIL, which Restart=on-failure restarts');
  const aliceId = keyFingerprint(aliceKey.publicKey);
  const sentRestart = seen.find((m) => {
    if (m.topic !== 'vigil/v1/lab/cam-1/cmd/restart') return false;
    const body = wellFormed(m.payload.toString()) ? JSON.parse(m.payload.toString()) as { id?: string; auth?: { key_id?: string } } : {};
    return body.auth?.key_id === aliceId && body.id !== 'stale-1';
  });
  assert.ok(sentRestart, 'the hub saw the signed restart');

  // Started again (as systemd would): the nonce survived the restart, so the replay is refused.
  vigild = await start();
  const replayed = await req.request('restart', JSON.parse(sentRestart.payload.toString()));
  assert.ok(replayed.status === 'error' && /replayed/.test(replayed.error.message), JSON.stringify(replayed));
  assert.equal(vigild.child.exitCode, null);

  // Audit events: in the store, and on the hub as vigil.audit/1.
  const audits = await waitFor('the audit messages at the hub', () => {
    const msgs = seen.filter((m) => m.topic === 'vigil/v1/lab/cam-1/audit').map((m) => auditMessageSchema.parse(JSON.parse(m.payload.toString())));
    return msgs.some((a) => a.outcome === 'refused' && /replayed/.test(a.reason ?? '') && a.method === 'restart') ? msgs : undefined;
  }, 10_000, 50);
  const reasons = audits.filter((a) => a.outcome === 'refused').map((a) => a.reason ?? '');
  for (const re of [/must be signed/, /unknown operator key/, /replayed/, /stale/]) assert.ok(reasons.some((r) => re.test(r)), `${re} audited`);
  assert.ok(audits.some((a) => a.outcome === 'accepted' && a.method === 'restart' && a.operator === 'alice' && a.severity === 'info'));
  // Stopping a stream within milliseconds of its first frame can leave vigild hanging in its exit
  // (seen twice in a dozen runs: "stopped" logged, the process never ends); let it run a moment first.
  await waitFor('a few frames on the restarted daemon', async () => {
    const st = await vigilctl(['status', '--socket', socket, '--json']);
    return st.code === 0 && ((JSON.parse(st.out) as { streams: { framesPulled: number }[] }).streams[0]?.framesPulled ?? 0) >= 3 ? true : undefined;
  }, 10_000, 100);
  const stopped = await vigild.stop('SIGTERM', 20_000).catch((err: unknown) => {
    throw new Error(`${String(err)}; vigild's last lines: ${vigild.stdout().slice(-3000)}`);
  });
  t.diagnostic(`stopped in ${stopped.ms.toFixed(0)} ms with code ${stopped.code}`);
  const db = openDb(t, state);
  const stored = db.prepare("SELECT rule, severity, payload FROM events WHERE kind = 'audit'").all() as { rule: string; severity: string; payload: string }[];
  const entries = stored.map((r) => auditEntrySchema.parse((JSON.parse(r.payload) as { audit: unknown }).audit));
  assert.ok(entries.length >= 5 && entries.length === audits.length, `${entries.length} stored, ${audits.length} at the hub`);
  assert.ok(stored.every((r) => (r.rule === 'command-refused' && r.severity === 'warning') || (r.rule === 'command-accepted' && r.severity === 'info')));
});
