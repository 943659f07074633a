import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import type { AuditEntry } from '../../daemon/control/audit.js';
import { waitFor } from '../helpers/shared.js';
import { newEvent, toOutbox } from '../store/store-fixtures.js';
import { call, login, PASSWORD, startConsole, type Fixture } from './console-fixture.js';

const auditOf = (f: Fixture): AuditEntry[] => f.audits().map((e) => (e.payload as unknown as { audit: AuditEntry }).audit);

test('no API answers without a session except login; pages are public and carry a strict policy', async (t) => {
  const f = await startConsole(t);
  const routes: [string, string][] = [
    ['GET', '/api/me'], ['POST', '/api/logout'], ['POST', '/api/rpc'], ['GET', '/api/users'], ['POST', '/api/users'],
    ['DELETE', '/api/users/admin'], ['POST', '/api/users/admin/password'], ['GET', '/api/telemetry'], ['GET', '/api/doctor'],
    ['GET', '/api/schema/rule'], ['GET', '/api/streams/gate/snapshot.jpg'], ['GET', '/api/streams/gate/overlay'],
    ['GET', '/api/events/0190/snapshot.jpg'], ['GET', '/api/events/0190/clip.mp4'], ['GET', '/api/no-such-route'], ['GET', '/api'],
  ];
  for (const [method, p] of routes) {
    const r = await call(f.port, method, p, { headers: { 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{}' }) });
    assert.equal(r.status, 401, `${method} ${p}: ${r.text}`);
    assert.deepEqual(Object.keys((r.json as { error: object }).error).sort(), ['code', 'message']);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  }
  // Changing requests without a session are audited; plain reads without any cookie (a page asking "am I logged in?") are not.
  const refused = auditOf(f).filter((a) => a.outcome === 'refused');
  assert.equal(refused.length, routes.filter(([m]) => m !== 'GET').length);
  assert.ok(refused.every((a) => a.transport === 'console' && a.operator === null && a.reason?.startsWith('no session (from 127.0.0.1')));

  const page = await call(f.port, 'GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'] ?? '', /^text\/html/);
  const csp = String(page.headers['content-security-policy'] ?? '');
  for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "img-src 'self' blob: data:", "media-src 'self' blob:", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
  }
  assert.ok(!csp.includes('unsafe-inline'));
  assert.equal(page.headers['x-frame-options'], 'DENY');
  assert.equal((await call(f.port, 'POST', '/')).status, 405);
});

test('path traversal is refused, encoded or not, and nothing outside the pages is served', async (t) => {
  const f = await startConsole(t);
  const web = path.join(f.stateDir, 'no-pages');
  await mkdir(web, { recursive: true });
  await writeFile(path.join(web, 'index.html'), '<!doctype html><title>console</title>');
  await writeFile(path.join(f.stateDir, 'secret.txt'), 'TOP SECRET');
  const secret = (r: { text: string }): boolean => r.text.includes('TOP SECRET') || r.text.includes('root:');
  for (const p of ['/../secret.txt', '/..%2fsecret.txt', '/%2e%2e/secret.txt', '/%2E%2E%2Fsecret.txt', '/a/../../secret.txt',
    '/..%5csecret.txt', '//etc/passwd', '/%2f%2fetc%2fpasswd', '/%00index.html', '/%zz', '/./index.html']) {
    const r = await call(f.port, 'GET', p);
    assert.equal(r.status, 400, `${p}: ${r.status} ${r.text}`);
    assert.ok(!secret(r), p);
  }
  // Absolute-form and asterisk targets name no page here.
  for (const p of ['http://127.0.0.1/../secret.txt', '*']) {
    const r = await call(f.port, 'GET', p);
    assert.equal(r.status, 400, p);
  }
  // A raw request line as a hostile client writes it, bypassing any client-side normalising.
  const raw = await new Promise<string>((resolve, reject) => {
    const s = net.connect(f.port, '127.0.0.1', () => s.write('GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 400 /);
  assert.ok(!raw.includes('root:'));
  assert.equal((await call(f.port, 'GET', '/no-such.js')).status, 404);
  assert.equal((await call(f.port, 'GET', '/index.html')).status, 200);
  // Client-side routes get the page; a folder is never listed.
  assert.match((await call(f.port, 'GET', '/events')).text, /<title>console/);
  await mkdir(path.join(web, 'assets'));
  assert.doesNotMatch((await call(f.port, 'GET', '/assets')).text, /assets/);

  // Evidence ids never become paths.
  const admin = await login(f.port, 'admin', PASSWORD);
  for (const id of ['..%2f..%2fsecret.txt', '%2e%2e', '..']) {
    const r = await admin.get(`/api/events/${id}/snapshot.jpg`);
    assert.ok(r.status === 400 || r.status === 404, `${id}: ${r.status}`);
    assert.ok(!secret(r));
  }
});

test('oversized bodies get 413 before they are read to the end', async (t) => {
  const f = await startConsole(t);
  const big = JSON.stringify({ user: 'admin', password: 'x'.repeat(70 * 1024) });
  const r = await call(f.port, 'POST', '/api/login', { headers: { 'content-type': 'application/json' }, body: big });
  assert.equal(r.status, 413);
  const admin = await login(f.port, 'admin', PASSWORD);
  const r2 = await admin.post('/api/rpc', { method: 'status', params: { pad: 'y'.repeat(100 * 1024) } });
  assert.equal(r2.status, 413);
  assert.equal((r2.json as { error: { code: string } }).error.code, 'too_large');
  // A body without a JSON type is refused too (a cross-site form cannot send one).
  const form = await call(f.port, 'POST', '/api/rpc', {
    headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf, 'content-type': 'application/x-www-form-urlencoded' }, body: 'method=status',
  });
  assert.equal(form.status, 415);
});

test('forged and expired sessions get 401 and are audited; logout ends a session', async (t) => {
  const f = await startConsole(t, { config: { session_idle_min: 1 } });
  const forged = await call(f.port, 'GET', '/api/me', { headers: { cookie: `vigil_session=${Buffer.alloc(32, 7).toString('base64url')}` } });
  assert.equal(forged.status, 401);
  const viewer = await login(f.port, 'viewer', PASSWORD);
  assert.equal((await viewer.get('/api/me')).status, 200);
  f.advance(61_000);
  const expired = await viewer.get('/api/me');
  assert.equal(expired.status, 401);
  const reasons = auditOf(f).filter((a) => a.outcome === 'refused').map((a) => a.reason ?? '');
  assert.equal(reasons.filter((r) => r.startsWith('unknown or expired session')).length, 2, reasons.join('\n'));

  const op = await login(f.port, 'op', PASSWORD);
  assert.equal((await op.post('/api/logout', {})).status, 204);
  assert.equal((await op.get('/api/me')).status, 401);
  // A password changed elsewhere (vigilctl) ends the sessions made with the old one.
  const admin = await login(f.port, 'admin', PASSWORD);
  await f.users.setPassword('admin', `${PASSWORD} 2`);
  assert.equal((await admin.get('/api/me')).status, 401);
  // So does a deleted account.
  const v2 = await login(f.port, 'viewer', PASSWORD);
  await f.users.remove('viewer');
  assert.equal((await v2.get('/api/me')).status, 401);
});

test('a request that changes anything needs the session\'s CSRF token and the same origin', async (t) => {
  const f = await startConsole(t);
  const admin = await login(f.port, 'admin', PASSWORD);
  const without = await call(f.port, 'POST', '/api/rpc', { headers: { cookie: admin.cookie, 'content-type': 'application/json' }, body: '{"method":"status"}' });
  assert.equal(without.status, 403);
  assert.equal((without.json as { error: { code: string } }).error.code, 'csrf');
  const wrong = await admin.post('/api/rpc', { method: 'status' }, { 'x-csrf-token': 'A'.repeat(43) });
  assert.equal(wrong.status, 403);
  const crossSite = await admin.post('/api/rpc', { method: 'status' }, { origin: 'https://evil.example' });
  assert.equal(crossSite.status, 403);
  assert.equal((await admin.rpc('status')).status, 200);
  const reasons = auditOf(f).filter((a) => a.outcome === 'refused').map((a) => a.reason ?? '');
  assert.ok(reasons.some((r) => r.startsWith('missing CSRF token')));
  assert.ok(reasons.some((r) => r.startsWith('wrong CSRF token')));
  assert.ok(reasons.some((r) => r.startsWith('cross-origin request from https://evil.example')));
  assert.ok(auditOf(f).filter((a) => a.outcome === 'refused').every((a) => a.operator === 'console:admin'));
});

test('brute-force logins are throttled (429, Retry-After) and audited; the right password waits too', async (t) => {
  const f = await startConsole(t, { config: { login_free_failures: 3 } });
  const attempt = (password: string): Promise<{ status: number; headers: Record<string, unknown> }> => call(f.port, 'POST', '/api/login', {
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'admin', password }),
  });
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await attempt(`guess ${i} not it`)).status);
  assert.deepEqual(statuses, [401, 401, 401]);
  // The 4th failure starts the backoff; from then on every try is refused unchecked until it passes.
  assert.equal((await attempt('guess 3 not it')).status, 401);
  const throttled = await attempt(PASSWORD);
  assert.equal(throttled.status, 429);
  assert.ok(Number(throttled.headers['retry-after']) >= 1);
  // An unknown user is refused with the same answer as a wrong password.
  const unknown = await call(f.port, 'POST', '/api/login', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'nobody', password: 'whatever it is' }) });
  assert.equal(unknown.status, 429, 'the address is throttled too');
  f.advance(2_000);
  assert.equal((await attempt(PASSWORD)).status, 200);
  const audits = auditOf(f).filter((a) => a.method === 'console.login');
  assert.equal(audits.filter((a) => a.reason?.startsWith('bad user name or password')).length, 4);
  assert.equal(audits.filter((a) => a.reason?.startsWith('login throttled')).length, 2);
  assert.equal(audits.filter((a) => a.outcome === 'accepted').length, 1);
});

test('roles: a viewer may read but not add a rule (403, audited); an operator\'s review is stored as console:<user>', async (t) => {
  const f = await startConsole(t);
  const [event] = f.store.recordEvents([newEvent(1)], toOutbox);
  assert.ok(event);
  const viewer = await login(f.port, 'viewer', PASSWORD);
  const list = await viewer.rpc('events.list', { stream: 'gate', limit: 5 });
  assert.equal(list.status, 200);
  assert.equal((list.json as { result: { id: string }[] }).result[0]?.id, event.id);
  const add = await viewer.rpc('rules.add', { rule: { id: 'door', stream: 'gate', kind: 'presence' } });
  assert.equal(add.status, 403);
  assert.equal((add.json as { error: { code: string } }).error.code, 'not_authorised');
  const ack = await viewer.rpc('events.ack', { id: event.id, verdict: 'false_alarm' });
  assert.equal(ack.status, 403);
  assert.equal(f.store.getReview(event.id), null);
  const refusals = auditOf(f).filter((a) => a.outcome === 'refused' && a.operator === 'console:viewer');
  assert.deepEqual(refusals.map((a) => a.method), ['rules.add', 'events.ack']);
  assert.match(refusals[0]?.reason ?? '', /^role viewer may not run rules\.add \(needs operator\)/);
  // Unknown methods are refused to a viewer before their params are looked at.
  assert.equal((await viewer.rpc('reboot')).status, 403);

  const op = await login(f.port, 'op', PASSWORD);
  const ok = await op.rpc('events.ack', { id: event.id, verdict: 'false_alarm', note: 'a shadow', by: 'someone-else' });
  assert.equal(ok.status, 200, ok.text);
  const review = f.store.getReview(event.id);
  assert.equal(review?.source, 'console:op', 'the session says who, not the request');
  assert.equal(review?.verdict, 'false_alarm');
  assert.ok(auditOf(f).some((a) => a.outcome === 'accepted' && a.method === 'events.ack' && a.operator === 'console:op'));
  // An operator may not change streams; an admin may try (and the method's own validation answers).
  assert.equal((await op.rpc('streams.disable', { id: 'gate' })).status, 403);
  const admin = await login(f.port, 'admin', PASSWORD);
  const disable = await admin.rpc('streams.disable', { id: 'gate' });
  assert.equal(disable.status, 422, disable.text);
  const bad = await admin.rpc('events.list', { limit: -1 });
  assert.equal(bad.status, 400);
  assert.match((bad.json as { error: { message: string } }).error.message, /^params\.limit: /);
  assert.equal((await op.rpc('events.show', { id: 'no-such' })).status, 422);
});

test('users: only an admin manages them; the last admin stays; the API keeps no password in its answers', async (t) => {
  const f = await startConsole(t);
  const viewer = await login(f.port, 'viewer', PASSWORD);
  assert.equal((await viewer.get('/api/users')).status, 403);
  assert.equal((await viewer.post('/api/users', { user: 'eve', password: PASSWORD, role: 'admin' })).status, 403);
  assert.ok(auditOf(f).some((a) => a.outcome === 'refused' && a.operator === 'console:viewer' && a.method === 'POST /api/users'));
  // Anyone may change their own password, and keeps their session.
  const own = await viewer.post('/api/users/viewer/password', { password: `${PASSWORD}!` });
  assert.equal(own.status, 204);
  assert.equal((await viewer.get('/api/me')).status, 200);

  const admin = await login(f.port, 'admin', PASSWORD);
  assert.equal((await admin.post('/api/users', { user: 'eve', password: 'short', role: 'viewer' })).status, 400);
  assert.equal((await admin.post('/api/users', { user: 'eve', password: PASSWORD, role: 'viewer' })).status, 201);
  assert.equal((await admin.post('/api/users', { user: 'eve', password: PASSWORD, role: 'viewer' })).status, 409);
  const listed = await admin.get('/api/users');
  assert.deepEqual((listed.json as { users: { name: string }[] }).users.map((u) => u.name), ['admin', 'eve', 'op', 'viewer']);
  assert.ok(!listed.text.includes('salt') && !listed.text.includes('hash'));
  const eve = await login(f.port, 'eve', PASSWORD);
  const del = await call(f.port, 'DELETE', '/api/users/eve', { headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf } });
  assert.equal(del.status, 204);
  assert.equal((await eve.get('/api/me')).status, 401);
  const last = await call(f.port, 'DELETE', '/api/users/admin', { headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf } });
  assert.equal(last.status, 409);
  // Roles: an admin changes them (at once for the user's next request); the last admin keeps theirs.
  assert.equal((await admin.post('/api/users/op/role', { role: 'viewer' })).status, 200);
  const demoted = await login(f.port, 'op', PASSWORD);
  assert.equal((await demoted.rpc('rules.remove', { id: 'x' })).status, 403);
  assert.equal((await admin.post('/api/users/admin/role', { role: 'viewer' })).status, 409);
  assert.equal((await admin.post('/api/users/op/role', { role: 'root' })).status, 400);
  assert.equal((await viewer.post('/api/users/viewer/role', { role: 'admin' })).status, 403);
  assert.deepEqual(auditOf(f).filter((a) => a.outcome === 'accepted' && a.method.startsWith('console.users')).map((a) => a.method),
    ['console.users.password viewer', 'console.users.add eve', 'console.users.remove eve', 'console.users.role op viewer']);
});

test('evidence: an event\'s snapshot and clip, with Range; a handler that throws is a 500, and the server goes on', async (t) => {
  const f = await startConsole(t, {
    pictures: {
      snapshot: () => Promise.reject(new Error('no stream "gate"')),
      overlay: () => { throw new TypeError('a bug in the overlay'); },
    },
  });
  const [event] = f.store.recordEvents([newEvent(1)], toOutbox);
  assert.ok(event);
  const dir = path.join(f.stateDir, 'evidence');
  await mkdir(dir, { recursive: true });
  const clip = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
  await writeFile(path.join(dir, `${event.id}.mp4`), clip);
  const viewer = await login(f.port, 'viewer', PASSWORD);
  const whole = await viewer.get(`/api/events/${event.id}/clip.mp4`);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers['content-type'], 'video/mp4');
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  assert.deepEqual(whole.body, clip);
  const part = await call(f.port, 'GET', `/api/events/${event.id}/clip.mp4`, { headers: { cookie: viewer.cookie, range: 'bytes=100-199' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], 'bytes 100-199/1000');
  assert.deepEqual(part.body, clip.subarray(100, 200));
  const tail = await call(f.port, 'GET', `/api/events/${event.id}/clip.mp4`, { headers: { cookie: viewer.cookie, range: 'bytes=-10' } });
  assert.deepEqual(tail.body, clip.subarray(990));
  const past = await call(f.port, 'GET', `/api/events/${event.id}/clip.mp4`, { headers: { cookie: viewer.cookie, range: 'bytes=5000-' } });
  assert.equal(past.status, 416);
  assert.equal((await viewer.get(`/api/events/${event.id}/snapshot.jpg`)).status, 404, 'no snapshot recorded');
  assert.equal((await viewer.get('/api/events/0190aaaa-0000-7000-8000-000000000000/clip.mp4')).status, 404, 'no such event');

  const boom = await viewer.get('/api/streams/gate/overlay');
  assert.equal(boom.status, 500);
  assert.doesNotMatch(boom.text, /a bug in the overlay/, 'internals stay in the log');
  assert.equal((await viewer.get('/api/streams/gate/snapshot.jpg')).status, 404);
  assert.equal((await viewer.get('/api/streams/..%2f/snapshot.jpg')).status, 400);
  assert.equal((await viewer.get('/api/me')).status, 200);
});

test('the rule schema and the telemetry history answer; without pictures, snapshots say 503', async (t) => {
  const f = await startConsole(t);
  const viewer = await login(f.port, 'viewer', PASSWORD);
  const schema = await viewer.get('/api/schema/rule');
  assert.equal(schema.status, 200);
  const kinds = JSON.stringify(schema.json);
  for (const k of ['presence', 'zone', 'line', 'count', 'stationary']) assert.ok(kinds.includes(`"${k}"`), k);
  assert.deepEqual((await viewer.get('/api/telemetry?hours=1')).json, { samples: [] });
  assert.equal((await viewer.get('/api/telemetry?hours=48')).status, 400);
  const snap = await viewer.get('/api/streams/gate/snapshot.jpg');
  assert.equal(snap.status, 503);
  assert.equal((await viewer.get('/api/doctor')).status, 503, 'no config file in this fixture');
});

test('a flood of slow connections neither locks users out nor grows past the connection cap', async (t) => {
  const f = await startConsole(t, { config: { max_connections: 8 } });
  const slow: net.Socket[] = [];
  let closedByServer = 0;
  t.after(() => { for (const s of slow) s.destroy(); });
  for (let i = 0; i < 40; i++) {
    const s = net.connect(f.port, '127.0.0.1', () => s.write('GET /api/me HTTP/1.1\r\nHost: x\r\n'));
    s.on('error', () => undefined);
    s.on('close', () => { closedByServer += 1; });
    slow.push(s);
  }
  // All 40 connected (the kernel accepts them); the console keeps at most 8 and drops the oldest of those that never finished a request.
  await waitFor('the server to drop all but the cap', () => (closedByServer >= 32 ? true : undefined), 10_000);
  const admin = await login(f.port, 'admin', PASSWORD);
  assert.equal((await admin.get('/api/me')).status, 200);
  assert.equal((await admin.rpc('status')).status, 200);
});

test('a client hammering the API gets 429 before any work is done for it, and is served again a moment later', async (t) => {
  const f = await startConsole(t, { config: { requests_per_second: 10 } });
  const admin = await login(f.port, 'admin', PASSWORD);
  const statuses: number[] = [];
  for (let i = 0; i < 40; i++) statuses.push((await admin.get('/api/me')).status);
  // A burst of twice the rate, less what the login and the refill over the loop's time gave back.
  assert.ok(statuses.filter((s) => s === 200).length < 30, statuses.join(' '));
  const limited = await admin.get('/api/me');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['retry-after'], '1');
  f.advance(1_000);
  assert.equal((await admin.get('/api/me')).status, 200);
});
