import type { ActionsConfig } from '../config/schema.js';
import type { DeviceIdentity } from '../uplink/alert-message.js';
import type { ActionStats } from './dispatcher.js';
import type { ActionEvent } from './local-event.js';

/** vigild → action runner. */
export type RunnerRequest =
  | { type: 'init'; config: ActionsConfig; device: DeviceIdentity; logLevel: string }
  | { type: 'fire'; event: ActionEvent };

/** action runner → vigild. `at` is the runner's wall clock (util/clock.ts), the same clock as vigild's. */
export type RunnerReply =
  | { type: 'done'; eventId: string; at: number; ok: boolean; stats: ActionStats }
  | { type: 'stats'; stats: ActionStats };
