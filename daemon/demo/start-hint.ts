import { existsSync } from 'node:fs';
import { VigilError } from '../errors.js';

/**
 * Loads the config, and when there is no file at all says what to do instead of only that it is
 * missing: a first `npx vigild` on a fresh checkout has no /etc/vigil/vigil.yaml.
 */
export function loadWithStartHint<T>(file: string, load: () => T): T {
  if (!existsSync(file)) {
    throw new VigilError(`no configuration at ${file}. Try \`npx vigild --demo\` for a self-contained demo (test video, ` +
      'embedded broker, events in the terminal), or `npx vigild --config FILE` with your own (README, "Pointing Vigil at a real camera, model and hub")', 2);
  }
  return load();
}
