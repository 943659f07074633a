import type { MqttClient } from 'mqtt';
import { stateSchema, type StatePayload } from '../../daemon/uplink/payloads.js';
import { TOPIC_ROOT } from '../../daemon/uplink/topics.js';

/**
 * The retained `state` messages matching `site`/`device` (`+` for any): how the hub knows which
 * devices exist and when each was last seen. The broker sends retained messages right after the
 * subscription; collection ends after `quietMs` without a new one, or at `timeoutMs`.
 */
export async function retainedStates(client: MqttClient, site: string, device: string,
  timeoutMs: number, quietMs = 300): Promise<StatePayload[]> {
  const filter = `${TOPIC_ROOT}/${site}/${device}/state`;
  const found = new Map<string, StatePayload>();
  let last = Date.now();
  const onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }): void => {
    if (!packet.retain || !topic.endsWith('/state')) return;
    try {
      const state = stateSchema.parse(JSON.parse(payload.toString('utf8')));
      found.set(`${state.site}/${state.device}`, state);
      last = Date.now();
    } catch {
      // A state someone else wrote badly says nothing about a Vigil device.
    }
  };
  client.on('message', onMessage);
  try {
    await client.subscribeAsync(filter, { qos: 1 });
    const deadline = Date.now() + timeoutMs;
    last = Date.now();
    while (Date.now() < deadline && Date.now() - last < quietMs) await new Promise((r) => setTimeout(r, 25));
    await client.unsubscribeAsync(filter).catch(() => undefined);
  } finally {
    client.off('message', onMessage);
  }
  return [...found.values()].sort((a, b) => `${a.site}/${a.device}`.localeCompare(`${b.site}/${b.device}`));
}

/** "offline, last seen 2026-…" from a retained state, for messages about a device that did not answer. */
export function lastSeen(state: StatePayload | undefined): string {
  if (!state) return 'the hub has no state message from it: never seen';
  // An `offline` from the last will carries the time its connection was made, so it is a lower bound.
  return state.state === 'online'
    ? `its retained state says online since ${state.ts}`
    : `last seen ${state.ts} (state offline)`;
}
