/**
 * Generates the machine-readable hub contract, docs/asyncapi.json (AsyncAPI 3.0), from the zod
 * payload schemas in daemon/uplink/payloads.ts: the schemas the uplink validates against are the
 * ones the hub reads, so the two cannot drift. test/uplink/asyncapi.test.ts fails when the checked-in
 * file differs from what this produces.
 *
 *   node dist/scripts/asyncapi.js            # rewrite docs/asyncapi.json
 *   node dist/scripts/asyncapi.js --check    # exit 1 if it is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { auditMessageSchema } from '../daemon/uplink/payloads.js';
import { authSchema, replySchema, requestSchema } from '../daemon/control/protocol.js';
import { ackSchema, alertSchema, evidenceHeaderSchema, modelMessageSchema, modelOfferSchema, snapshotRefSchema, stateSchema, storageMessageSchema, telemetrySchema } from '../daemon/uplink/payloads.js';
import { VERSION } from '../daemon/version.js';
import { flModelSchema, flUpdateSchema } from '../daemon/learning/fl-payloads.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  // Each schema is embedded in the document, which has its own dialect; a $schema per part is noise.
  const doc = z.toJSONSchema(schema, { io }) as Json;
  delete doc['$schema'];
  return doc;
}

const userProperties = {
  type: 'object',
  description: 'MQTT 5 user properties.',
  properties: { event_id: { type: 'string', description: 'The payload `id` (uuid v7): the de-duplication key.' } },
  required: ['event_id'],
};

/** User properties of a snapshot sent whole (MQTT 5; absent over MQTT 3.1.1). */
const wholeProperties = {
  type: 'object',
  description: 'MQTT 5 user properties.',
  properties: {
    event_id: { type: 'string', description: 'The event\'s id (uuid v7); the file is `<event_id>.jpg`.' },
    schema: { type: 'string', const: 'vigil.evidence/1' },
    kind: { type: 'string', const: 'snapshot' },
    name: { type: 'string', description: 'File name on the device.' },
    total_bytes: { type: 'string', description: 'The JPEG\'s size, decimal.' },
    sha256: { type: 'string', description: 'Lower-case hex sha256 of the JPEG, as recorded when it was written.' },
  },
  required: ['event_id'],
};

/** User properties of a part; the header in the payload says the same and more. */
const partProperties = {
  type: 'object',
  description: 'MQTT 5 user properties (for routing; the header in the payload is authoritative).',
  properties: {
    event_id: { type: 'string' }, schema: { type: 'string', const: 'vigil.evidence/1' },
    index: { type: 'string', description: 'part index, decimal' }, count: { type: 'string', description: 'parts of the file, decimal' },
  },
  required: ['event_id'],
};

export function buildAsyncApi(): Json {
  const params = {
    site: { description: 'device.site from the device configuration' },
    device: { description: 'device.id from the device configuration' },
  };
  const channel = (leaf: string, message: string, description: string): Json => ({
    address: `vigil/v1/{site}/{device}/${leaf}`,
    description,
    parameters: params,
    messages: { [message]: { $ref: `#/components/messages/${message}` } },
  });
  const send = (name: string, bindings: Json, description: string): Json => ({
    action: 'send', channel: { $ref: `#/channels/${name}` }, description, bindings: { mqtt: { ...bindings, bindingVersion: '0.2.0' } },
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Vigil device ↔ hub MQTT contract',
      version: VERSION,
      description: 'Generated from daemon/uplink/payloads.ts by scripts/asyncapi.ts; do not edit by hand. ' +
        'Delivery guarantees are in docs/hub-contract.md: at least once, de-duplicate on `id`.',
    },
    defaultContentType: 'application/json',
    channels: {
      alerts: channel('alerts', 'alert', 'Events of severity alert and critical.'),
      events: channel('events', 'event', 'Events of severity info and warning (motion, for instance).'),
      storage: channel('storage', 'storage', 'The device reporting on its own storage: a corrupt database moved aside, events evicted to stay within the disk budget.'),
      state: channel('state', 'state', 'Retained online/offline state; `offline` is also the last will.'),
      ack: channel('ack', 'ack', 'Published by the hub application, subscribed by the device: the hub has processed the event `event_id`. The device waits for it after a test alert (`vigilctl test-alert`, provisioning).'),
      telemetry: channel('telemetry', 'telemetry', 'Health reports every telemetry.interval_s: per-stream fps, drops, restarts and latency; CPU, memory, temperature, disk, GPU; outbox and uplink.'),
      audit: channel('audit', 'audit', 'Commands refused for want of authority, and changing commands accepted (docs/remote-management.md).'),
      commands: {
        address: 'vigil/v1/{site}/{device}/cmd/{method}',
        description: 'Command requests (MQTT 5): Response Topic under the device\'s reply/ prefix and Correlation Data required; ' +
          'the body is a vigil.cmd/1 request, with `auth` (an operator\'s Ed25519 signature) for changing methods. Never retained.',
        parameters: { ...params, method: { description: 'the protocol method, e.g. status; must equal the body\'s method when it has one' } },
        messages: { request: { $ref: '#/components/messages/request' } },
      },
      replies: {
        address: 'vigil/v1/{site}/{device}/reply/{operator}/{session}',
        description: 'Command replies, on the request\'s Response Topic (which must lie under the device\'s reply/ prefix), with its Correlation Data echoed.',
        parameters: { ...params, operator: { description: 'the operator\'s certificate common name (the ACL lets each read only its own)' },
          session: { description: 'chosen by the operator\'s client' } },
        messages: { reply: { $ref: '#/components/messages/reply' } },
      },
      models: channel('models', 'model', 'The device reporting on its models: packages installed or refused, versions activated, probations passed, rollbacks and why.'),
      modelOffers: {
        address: 'vigil/v1/{site}/models/{name}',
        description: 'The hub offering a signed model package to every device of a site that runs a model of that name (retained). See docs/models.md.',
        parameters: { site: params.site, name: { description: 'models[].name in the device configuration' } },
        messages: { modelOffer: { $ref: '#/components/messages/modelOffer' } },
      },
      evidence: channel('evidence', 'evidence', 'Evidence snapshots for human review, sent whole when at most 256 KiB: one JPEG per event (evidence.severities), with the event\'s object boxed. The event\'s id is in the `event_id` user property, its sha256 in `sha256`; the activity\'s `end` alert names it in `snapshot`. Larger snapshots and every clip go on evidence/chunk. See docs/evidence-delivery.md.'),
      evidenceChunk: channel('evidence/chunk', 'evidenceChunk', 'Evidence files in parts (clips as MP4, snapshots over 256 KiB): each message is a vigil.evidence/1 header as one line of JSON (components/schemas/evidenceHeader), a newline (0x0A), then `length` bytes of the file from `offset`. A file is whole when all `count` parts arrived; check it against `sha256`. See docs/evidence-delivery.md.'),
      flUpdate: channel('fl/update', 'flUpdate', 'Federated learning: a device\'s weight delta for one round, clipped (and noised with DP on), encrypted to the hub (X25519 + HKDF-SHA256 + AES-256-GCM) and signed with the device\'s Ed25519 key. See docs/federated-learning.md.'),
      flModel: {
        address: 'vigil/v1/{site}/fl/model',
        description: 'Federated learning: the global alert-verifier model of the site, signed by the hub (Ed25519). Published by `vigilctl hub fl`; devices receive it.',
        parameters: { site: params.site },
        messages: { flModel: { $ref: '#/components/messages/flModel' } },
      },
    },
    operations: {
      sendAlert: send('alerts', { qos: 1, retain: false }, 'At least once; oldest first within a priority; critical before alert.'),
      sendEvent: send('events', { qos: 1, retain: false }, 'At least once; after every pending alert.'),
      sendStorage: send('storage', { qos: 1, retain: false }, 'At least once; prioritised by its severity like any event.'),
      sendState: send('state', { qos: 1, retain: true }, 'Retained; `online` at every connect, `offline` at a clean stop and as the last will.'),
      receiveAck: {
        action: 'receive', channel: { $ref: '#/channels/ack' },
        description: 'The hub acknowledges at least every alert carrying `test: true`, at QoS 1, not retained; the device subscribes at every connect.',
        bindings: { mqtt: { qos: 1, retain: false, bindingVersion: '0.2.0' } },
      },
      sendTelemetry: send('telemetry', { qos: 1, retain: false }, 'At least once, after every pending event (lowest priority); during an outage only the newest 1440 reports are kept.'),
      sendAudit: send('audit', { qos: 1, retain: false }, 'At least once through the outbox; refusals at warning priority, acceptances at info.'),
      receiveCommand: {
        action: 'receive', channel: { $ref: '#/channels/commands' },
        description: 'The device subscribes at QoS 1; retained requests and requests without a Response Topic are dropped.',
        bindings: { mqtt: { qos: 1, retain: false, bindingVersion: '0.2.0' } },
        reply: { channel: { $ref: '#/channels/replies' }, messages: [{ $ref: '#/channels/replies/messages/reply' }] },
      },
      sendReply: send('replies', { qos: 0, retain: false }, 'QoS 0: a reply is worthless once the operator has timed out.'),
      sendModel: send('models', { qos: 1, retain: false }, 'At least once; prioritised by its severity like any event (rollbacks and refusals are warnings).'),
      receiveModelOffer: {
        action: 'receive', channel: { $ref: '#/channels/modelOffers' },
        description: 'Retained; the device installs each name/version once, verifying the package signature against its trusted keys; an empty retained message withdraws the offer.',
        bindings: { mqtt: { qos: 1, retain: true, bindingVersion: '0.2.0' } },
      },
      sendEvidence: send('evidence', { qos: 1, retain: false }, 'At least once, after every pending event (lowest priority, with telemetry); usually within 5 s of the frame.'),
      sendEvidenceChunk: send('evidenceChunk', { qos: 1, retain: false }, 'At least once per part, after every pending event and never more than 4 parts in flight, so an alert waits behind at most 4 parts; a part acknowledged by the broker is never sent again, across outages, restarts and power cuts. Parts of one file leave in order; duplicates carry the same bytes.'),
      sendFlUpdate: send('flUpdate', { qos: 1, retain: false }, 'At least once through the outbox, after telemetry (priority 5); one per device per round. The hub subscribes with $share/{group}/vigil/v1/{site}/+/fl/update and refuses stale rounds, replays, unknown devices and bad signatures.'),
      receiveFlModel: { action: 'receive', channel: { $ref: '#/channels/flModel' }, description: 'Retained, QoS 1: the newest global model; a device uses it only if the hub\'s signature verifies and its round is newer than the one in use.', bindings: { mqtt: { qos: 1, retain: true, bindingVersion: '0.2.0' } } },
    },
    components: {
      messages: {
        alert: { name: 'vigil.alert/1', payload: { $ref: '#/components/schemas/alert' }, headers: userProperties },
        event: { name: 'vigil.alert/1', payload: { $ref: '#/components/schemas/alert' }, headers: userProperties },
        storage: { name: 'vigil.storage/1', payload: { $ref: '#/components/schemas/storage' }, headers: userProperties },
        state: { name: 'vigil.state/1', payload: { $ref: '#/components/schemas/state' } },
        telemetry: { name: 'vigil.telemetry/1', payload: { $ref: '#/components/schemas/telemetry' } },
        audit: { name: 'vigil.audit/1', payload: { $ref: '#/components/schemas/audit' } },
        request: { name: 'vigil.cmd/1 request', payload: { $ref: '#/components/schemas/request' },
          correlationId: { location: '$message.header#/correlationData' } },
        reply: { name: 'vigil.cmd/1 reply', payload: { $ref: '#/components/schemas/reply' },
          correlationId: { location: '$message.header#/correlationData' } },
        model: { name: 'vigil.model/1', payload: { $ref: '#/components/schemas/model' }, headers: userProperties },
        modelOffer: { name: 'vigil.model-offer/1', payload: { $ref: '#/components/schemas/modelOffer' } },
        ack: { name: 'vigil.ack/1', payload: { $ref: '#/components/schemas/ack' } },
        evidence: {
          name: 'evidence JPEG', contentType: 'image/jpeg', headers: wholeProperties,
          payload: { type: 'string', format: 'binary', description: 'A baseline JPEG of the event\'s frame; the event is `event_id`.' },
        },
        evidenceChunk: {
          name: 'vigil.evidence/1 part', contentType: 'application/vnd.vigil.evidence-part', headers: partProperties,
          payload: { type: 'string', format: 'binary', description: 'The part\'s header (evidenceHeader) as one line of JSON, 0x0A, then the part\'s bytes.' },
        },
        flUpdate: { name: 'vigil.fl_update/1', payload: { $ref: '#/components/schemas/flUpdate' } },
        flModel: { name: 'vigil.fl_model/1', payload: { $ref: '#/components/schemas/flModel' } },
      },
      schemas: {
        alert: jsonSchema(alertSchema),
        storage: jsonSchema(storageMessageSchema),
        state: jsonSchema(stateSchema),
        telemetry: jsonSchema(telemetrySchema),
        audit: jsonSchema(auditMessageSchema),
        // As sent: before defaults, and with the optional signature envelope beside the protocol fields.
        request: jsonSchema(z.union(requestSchema.options.map((o) => o.extend({ auth: authSchema.optional() }))), 'input'),
        reply: jsonSchema(replySchema),
        model: jsonSchema(modelMessageSchema),
        modelOffer: jsonSchema(modelOfferSchema),
        ack: jsonSchema(ackSchema),
        snapshotRef: jsonSchema(snapshotRefSchema),
        evidenceHeader: jsonSchema(evidenceHeaderSchema),
        flUpdate: jsonSchema(flUpdateSchema),
        flModel: jsonSchema(flModelSchema),
      },
    },
  };
}

export const ASYNCAPI_FILE = path.join('docs', 'asyncapi.json');

export function renderAsyncApi(): string {
  return `${JSON.stringify(buildAsyncApi(), null, 2)}\n`;
}

/** The repository root, from dist/scripts or scripts. */
function repoRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '..', '..') : path.resolve(here, '..');
}

const USAGE = `usage: node dist/scripts/asyncapi.js [--check]
  (no option)  rewrite ${ASYNCAPI_FILE} from the payload schemas
  --check      exit 1 if ${ASYNCAPI_FILE} is out of date; writes nothing
  -h, --help   this text; writes nothing
`;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = path.join(repoRoot(), ASYNCAPI_FILE);
  const args = process.argv.slice(2);
  // Anything but the two known forms writes nothing: a tracked file is not rewritten by a guess.
  const unknown = args.filter((a) => a !== '--check' && a !== '-h' && a !== '--help');
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(USAGE);
  } else if (unknown.length > 0) {
    process.stderr.write(`asyncapi: unknown argument ${unknown[0] ?? ''}\n${USAGE}`);
    process.exitCode = 2;
  } else if (args.includes('--check')) {
    const text = renderAsyncApi();
    const current = readFileSync(file, 'utf8');
    if (current !== text) {
      process.stderr.write(`${file} is out of date: run node dist/scripts/asyncapi.js\n`);
      process.exitCode = 1;
    }
  } else {
    const text = renderAsyncApi();
    writeFileSync(file, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
