/**
 * The `component` values of the daemon's log lines, one per part; `log.components` in the config
 * sets a level for each. A listed name, not any string, so that a misspelt one is a config error
 * rather than a setting that silently does nothing. A new part adds its name here.
 */
export const LOG_COMPONENTS = [
  'app', 'video', 'inference', 'analytics', 'store', 'uplink', 'control', 'telemetry', 'systemd', 'test-alert', 'models', 'remote', 'tiers', 'actions', 'evidence', 'manage', 'learning', 'console', 'pair',
] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];
