import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One structured logger for the whole daemon: JSON lines on stdout, which journald stores as-is.
 * Components take a child (`log.child({ component: 'video', stream: 'gate' })`) so that every line
 * can be filtered by field instead of by grepping message text.
 */
export function createLogger(level: string = process.env['VIGIL_LOG_LEVEL'] ?? 'info',
  destination?: pino.DestinationStream, componentLevels: Readonly<Record<string, string>> = {}): Logger {
  const options: pino.LoggerOptions = {
    level,
    // A child named for a component takes that component's level (its own children inherit it),
    // so `log.components: { video: debug }` opens one part up without flooding the journal.
    onChild: (child) => {
      const component: unknown = child.bindings()['component'];
      const own = typeof component === 'string' ? componentLevels[component] : undefined;
      if (own !== undefined) child.level = own;
    },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Credentials can appear in URIs and MQTT options; never let them reach the journal.
    redact: { paths: ['password', '*.password', 'mqtt.password', 'uri_secret'], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    hooks: { streamWrite: oneKeyPerField },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * pino appends a child's bindings and each call's fields without looking at what is already there,
 * so a child of a child (`component` twice) or a call naming its child's field again (`stream`)
 * repeats a key: JSON readers keep one of them, journald's and jq's may differ on which. Each line
 * leaves with one key per field, in the place the key first appeared, with its last value (the
 * innermost child's, or the call's own), as JSON.parse reads it. Fields that mean different things
 * must have different names (`model` is a name, `model_path` a file).
 */
function oneKeyPerField(line: string): string {
  try {
    return `${JSON.stringify(JSON.parse(line))}\n`;
  } catch {
    return line;
  }
}

/** A logger that drops everything, for unit tests that do not assert on log lines. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
