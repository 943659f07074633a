import { assertTopicLevel, TOPIC_ROOT } from './topics.js';

/** Where the device reports on its models (`vigil.model/1`). */
export function modelReportTopic(site: string, device: string): string {
  assertTopicLevel('site', site);
  assertTopicLevel('device', device);
  return `${TOPIC_ROOT}/${site}/${device}/models`;
}

/**
 * Where the hub offers packages, retained, one topic per model name, for the whole site. The
 * level after the site is `models`, so no device may be called "models" (it would read its own
 * report topic as a site-wide one).
 */
export function modelOfferFilter(site: string): string {
  assertTopicLevel('site', site);
  return `${TOPIC_ROOT}/${site}/models/+`;
}

export function modelOfferTopic(site: string, name: string): string {
  assertTopicLevel('site', site);
  assertTopicLevel('model name', name);
  return `${TOPIC_ROOT}/${site}/models/${name}`;
}
