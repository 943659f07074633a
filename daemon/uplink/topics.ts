/** The topic tree under `vigil/v1/{site}/{device}/`, the one place where topic strings are built. */
export interface UplinkTopics {
  alerts: string;
  state: string;
  events: string;
  storage: string;
  telemetry: string;
  /** Subscribed by the device: the hub's acknowledgements (`vigil.ack/1`). */
  ack: string;
  /** Evidence snapshots (JPEG) of events sent whole, for human review. */
  evidence: string;
  /** Evidence files (clips, large snapshots) in parts with a `vigil.evidence/1` header. */
  evidenceChunk: string;
}

export const TOPIC_ROOT = 'vigil/v1';

/**
 * A site or device name containing a wildcard or a separator would publish to a topic other than the
 * one the hub subscribes to (or be rejected by the broker), so it is refused here, at start.
 */
export function assertTopicLevel(what: string, value: string): void {
  if (value.length === 0) throw new Error(`${what} must not be empty`);
  if (/[+#/\u0000]/.test(value)) {
    throw new Error(`${what} "${value}" must not contain "+", "#", "/" or NUL: it is one MQTT topic level`);
  }
}

export function uplinkTopics(site: string, device: string): UplinkTopics {
  assertTopicLevel('site', site);
  assertTopicLevel('device', device);
  const base = `${TOPIC_ROOT}/${site}/${device}`;
  return { alerts: `${base}/alerts`, state: `${base}/state`, events: `${base}/events`, storage: `${base}/storage`,
    telemetry: `${base}/telemetry`, ack: `${base}/ack`, evidence: `${base}/evidence`, evidenceChunk: `${base}/evidence/chunk` };
}

/** Whether `topic` matches the subscription `filter` (MQTT `+` and `#` wildcards). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return i < t.length || (i === t.length && i > 0);
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * The command channel's topics: requests arrive on `…/cmd/{method}` (the filter subscribes to
 * every method), replies go under `…/reply/` (whatever the operator chose below it), and audit
 * records of commands leave on `…/audit`.
 */
export function commandTopics(site: string, device: string): {
  requests: string; requestPrefix: string; replyPrefix: string; audit: string;
} {
  assertTopicLevel('site', site);
  assertTopicLevel('device', device);
  const base = `${TOPIC_ROOT}/${site}/${device}`;
  return { requests: `${base}/cmd/+`, requestPrefix: `${base}/cmd/`, replyPrefix: `${base}/reply/`, audit: `${base}/audit` };
}
