import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CliError } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { readPrivateKey } from '../../daemon/learning/keys.js';
import { tempDir } from '../helpers/shared.js';

function capture(): { out: Output; lines: string[] } {
  const lines: string[] = [];
  return { lines, out: { raw: (s) => lines.push(s), result: (_j, v) => lines.push(JSON.stringify(v)), error: (s) => lines.push(s) } };
}

test('vigilctl hub fl keygen writes the hub key pairs, fl key prints a device key, a bad registry is a usage error', async (t) => {
  const dir = await tempDir(t);
  const { out, lines } = capture();
  await buildProgram(out).parseAsync(['hub', 'fl', 'keygen', '--out', dir], { from: 'user' });
  assert.equal(readPrivateKey(path.join(dir, 'hub-sign.key'), 'ed25519', 'x').asymmetricKeyType, 'ed25519');
  assert.equal(readPrivateKey(path.join(dir, 'hub-encrypt.key'), 'x25519', 'x').asymmetricKeyType, 'x25519');
  assert.equal(statSync(path.join(dir, 'hub-sign.key')).mode & 0o777, 0o600);
  assert.match(lines.join('\n'), /hub-encrypt\.pub/);

  const state = path.join(dir, 'state');
  await buildProgram(out).parseAsync(['fl', 'key', '--state-dir', state], { from: 'user' });
  const pem = lines.at(-1)!;
  assert.equal(createPublicKey(pem).asymmetricKeyType, 'ed25519');
  assert.equal(statSync(path.join(state, 'fl-device.key')).mode & 0o777, 0o600);
  // The same key the second time: it is the device's identity, not made afresh.
  await buildProgram(out).parseAsync(['fl', 'key', '--state-dir', state], { from: 'user' });
  assert.equal(lines.at(-1), pem);

  const registry = path.join(dir, 'devices.yaml');
  writeFileSync(registry, 'devices:\n  cam-1: not a key\n');
  await assert.rejects(buildProgram(out).parseAsync(['hub', 'fl', 'run', '--url', 'mqtt://127.0.0.1:1', '--site', 'plaza', '--registry', registry,
    '--sign-key', path.join(dir, 'hub-sign.key'), '--decrypt-key', path.join(dir, 'hub-encrypt.key')], { from: 'user' }),
  (err: unknown) => err instanceof CliError && err.exitCode === 2 && /devices\.cam-1: expected a PEM public key/.test(err.message));
  // Keys of the wrong kind are named as such.
  writeFileSync(registry, `devices:\n  cam-1: |\n${readFileSync(path.join(dir, 'hub-sign.pub'), 'utf8').split('\n').map((l) => `    ${l}`).join('\n')}\n`);
  await assert.rejects(buildProgram(out).parseAsync(['hub', 'fl', 'run', '--url', 'mqtt://127.0.0.1:1', '--site', 'plaza', '--registry', registry,
    '--sign-key', path.join(dir, 'hub-encrypt.key'), '--decrypt-key', path.join(dir, 'hub-encrypt.key')], { from: 'user' }),
  (err: unknown) => err instanceof CliError && /--sign-key .*expected an ed25519 key, got x25519/.test(err.message));
});
