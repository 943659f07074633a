import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { pathFieldNames } from '../../daemon/config/config-paths.js';
import { loadConfigFile } from '../../daemon/config/load.js';
import { configSchema } from '../../daemon/config/schema.js';
import { tempDir } from '../helpers/shared.js';

const PEM = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n';

test('the schema marks every path field of vigil.yaml, and loading resolves each against the config file\'s folder', async (t) => {
  // The list is the manual's: a path field added without its mark shows up here as missing.
  assert.deepEqual(pathFieldNames(configSchema), [
    'storage.dir', 'storage.replica.dir', 'mqtt.ca', 'mqtt.cert', 'mqtt.key', 'models_dir', 'models[].manifest', 'model_store.trusted_keys[]',
    'control.socket', 'learning.embedding_model', 'learning.device_key', 'learning.hub_sign_key', 'learning.hub_encrypt_key',
    'console.tls.cert', 'console.tls.key',
  ]);
  const dir = path.join(await tempDir(t), 'etc', 'vigil');
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'vigil.yaml');
  await writeFile(file, JSON.stringify({
    device: { id: 'cam-1', site: 'lab' },
    storage: { dir: 'state', replica: { dir: 'card' } },
    mqtt: { url: 'mqtts://hub.invalid:8883', ca: 'tls/ca.pem', cert: 'tls/device.pem', key: '../private/device.key' },
    models_dir: 'models',
    models: [{ name: 'det', manifest: 'manifests/det.json' }, { name: 'abs', manifest: '/opt/vigil/abs.json' }],
    model_store: { trusted_keys: ['keys/publisher.pub', PEM] },
    control: { socket: 'run/vigild.sock' },
    learning: { embedding_model: 'osnet.onnx', device_key: 'fl/device.key', hub_sign_key: 'fl/hub-sign.pub', hub_encrypt_key: 'fl/hub-enc.pub' },
  }));
  // Started from elsewhere: the folder that counts is the file's, not the working directory.
  const cwd = process.cwd();
  process.chdir(path.dirname(dir));
  t.after(() => process.chdir(cwd));
  const cfg = loadConfigFile(path.relative(process.cwd(), file));
  const at = (p: string): string => path.join(dir, p);
  assert.equal(cfg.storage.dir, at('state'));
  assert.equal(cfg.storage.replica.dir, at('card'));
  assert.deepEqual([cfg.mqtt.ca, cfg.mqtt.cert, cfg.mqtt.key], [at('tls/ca.pem'), at('tls/device.pem'), path.resolve(dir, '../private/device.key')]);
  assert.equal(cfg.models_dir, at('models'));
  assert.deepEqual(cfg.models.map((m) => m.manifest), [at('manifests/det.json'), '/opt/vigil/abs.json']);
  assert.deepEqual(cfg.model_store.trusted_keys, [at('keys/publisher.pub'), PEM], 'PEM text is left as it is');
  assert.equal(cfg.control.socket, at('run/vigild.sock'));
  const l = cfg.learning;
  assert.deepEqual([l.embedding_model, l.device_key, l.hub_sign_key, l.hub_encrypt_key],
    [at('osnet.onnx'), at('fl/device.key'), at('fl/hub-sign.pub'), at('fl/hub-enc.pub')]);
});
