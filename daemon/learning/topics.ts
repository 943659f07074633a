import { assertTopicLevel, TOPIC_ROOT } from '../uplink/topics.js';

/** Federated-learning topics: updates per device, one retained global model per site. */
export function flUpdateTopic(site: string, device: string): string {
  assertTopicLevel('site', site);
  assertTopicLevel('device', device);
  return `${TOPIC_ROOT}/${site}/${device}/fl/update`;
}

export function flModelTopic(site: string): string {
  assertTopicLevel('site', site);
  return `${TOPIC_ROOT}/${site}/fl/model`;
}

/** What a hub aggregator subscribes to: shared, so several instances can split one site's load. */
export function flUpdateShare(group: string, site: string): string {
  assertTopicLevel('group', group);
  assertTopicLevel('site', site);
  return `$share/${group}/${TOPIC_ROOT}/${site}/+/fl/update`;
}
