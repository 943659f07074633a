import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import path from 'node:path';
import { test } from 'node:test';
import { validateConfig } from '../../daemon/config/load.js';
import { consoleSchema } from '../../daemon/console/console-config.js';
import { checkExposure, ConsoleServer } from '../../daemon/console/console-server.js';
import { consoleTls, startConsole } from '../../daemon/console/console-service.js';
import { UserStore } from '../../daemon/console/user-store.js';
import { Auditor } from '../../daemon/control/audit.js';
import { createLogger, silentLogger } from '../../daemon/log.js';
import type { DaemonParts } from '../../daemon/parts.js';
import { makePki } from '../helpers/certs.js';
import { tempDir } from '../helpers/shared.js';
import { call, PASSWORD } from './console-fixture.js';

test('plain HTTP only on loopback unless insecure_http; a certificate allows any address', () => {
  assert.doesNotThrow(() => checkExposure('127.0.0.1:8443', false, false));
  assert.doesNotThrow(() => checkExposure('[::1]:8443', false, false));
  assert.doesNotThrow(() => checkExposure('localhost:8443', false, false));
  assert.throws(() => checkExposure('0.0.0.0:8443', false, false), /not loopback and there is no certificate .*console\.insecure_http: true/);
  assert.throws(() => checkExposure('192.168.1.20:8443', false, false), /passwords would cross the network in clear/);
  assert.doesNotThrow(() => checkExposure('0.0.0.0:8443', true, false));
  assert.doesNotThrow(() => checkExposure('0.0.0.0:8443', false, true));
});

test('the console serves TLS with its own certificate, else the device\'s; cookies are Secure; a console that cannot start leaves the daemon be', async (t) => {
  const dir = await tempDir(t);
  const pki = makePki(dir, { device: { cn: 'lab/cam-1', san: 'IP:127.0.0.1' }, console: { cn: 'console', san: 'IP:127.0.0.1' } });
  const device = pki.leaves['device'];
  const own = pki.leaves['console'];
  assert.ok(device && own);
  const base = { device: { id: 'cam-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') } };
  const withDevice = validateConfig({ ...base, mqtt: { url: 'mqtts://hub.invalid:8883', cert: device.cert, key: device.key } }, 'test');
  assert.equal((await consoleTls(withDevice))?.from, 'mqtt.cert');
  const withOwn = validateConfig({ ...base, mqtt: { url: 'mqtts://hub.invalid:8883', cert: device.cert, key: device.key }, console: { tls: own } }, 'test');
  assert.equal((await consoleTls(withOwn))?.from, 'console.tls');
  assert.equal(await consoleTls(validateConfig({ ...base, mqtt: { url: 'mqtt://hub.invalid:1883' } }, 'test')), null);

  await new UserStore(withOwn.storage.dir).add('ana', 'viewer', PASSWORD);
  const tls = await consoleTls(withOwn);
  assert.ok(tls);
  const server = new ConsoleServer({
    config: consoleSchema.parse({ enabled: true, listen: '127.0.0.1:0' }), stateDir: withOwn.storage.dir, tls, target: { status: () => ({}), listEvents: () => [] },
    auditor: new Auditor(() => undefined, 100, silentLogger()), telemetry: () => null, configFile: null, log: silentLogger(),
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  const ca = await readFile(pki.ca);
  const answer = await new Promise<{ status: number; cookie: string; issuer: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/login', ca, headers: { 'content-type': 'application/json' } }, (res) => {
      const issuer = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN);
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cookie: String(res.headers['set-cookie']?.[0] ?? ''), issuer }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ user: 'ana', password: PASSWORD }));
  });
  assert.equal(answer.status, 200);
  assert.equal(answer.issuer, 'console');
  assert.match(answer.cookie, /; HttpOnly; SameSite=Strict; Path=\/; Secure/);
  // Plain HTTP to the TLS port is no way in.
  await assert.rejects(call(port, 'GET', '/api/me'));

  // A network address without a certificate: the console stays off, the caller carries on.
  const parts: DaemonParts = {
    cfg: validateConfig({ ...base, mqtt: { url: 'mqtt://hub.invalid:1883' }, console: { enabled: true, listen: '0.0.0.0:0' } }, 'test'),
    store: null, writer: null, uplink: null, testAlerts: null, telemetry: null, tiers: null, learning: null,
  };
  const lines: string[] = [];
  const rootLog = createLogger('info', { write: (line: string) => { lines.push(line); } });
  assert.equal(await startConsole({ parts, target: { status: () => ({}), listEvents: () => [] }, audit: () => undefined, configFile: null, rootLog }), null);
  const failure = lines.map((l) => JSON.parse(l) as { msg: string; component?: string; err?: string }).find((l) => l.msg === 'console unavailable: the device runs on without it');
  assert.equal(failure?.component, 'console');
  assert.match(failure?.err ?? '', /not loopback and there is no certificate/);
});
