import path from 'node:path';
import type { Config } from '../../daemon/config/schema.js';

/**
 * A config written for a device names the device's paths (/etc/vigil/ca.pem, /var/lib/vigil); in a
 * root filesystem being prepared (`provision.sh --root DIR`) those files are under DIR. This moves
 * the paths that provisioning installs — the certificates, the state dir and the models dir — under
 * `root`. Model manifests are not moved: they name the app's own files (/opt/vigil/models), which
 * are where the app runs, not in the root being prepared.
 */
export function configUnderRoot(cfg: Config, root: string): Config {
  const under = (p: string): string => (path.isAbsolute(p) ? path.join(root, p) : p);
  const mqtt = { ...cfg.mqtt };
  for (const k of ['ca', 'cert', 'key'] as const) {
    const v = mqtt[k];
    if (v !== undefined) mqtt[k] = under(v);
  }
  return {
    ...cfg,
    mqtt,
    storage: { ...cfg.storage, dir: under(cfg.storage.dir) },
    ...(cfg.models_dir !== undefined ? { models_dir: under(cfg.models_dir) } : {}),
  };
}
