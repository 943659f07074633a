import { z } from 'zod';
import { configPathSchema } from '../config/config-paths.js';

const listenSchema = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8443')
  .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65_535, 'port must be 0-65535');

/**
 * The `console` block of vigil.yaml (docs/console.md), kept beside the server that enforces it.
 * Off by default: a web page with accounts is something an installer turns on, with a user made
 * first. Loopback by default, so that the device answers on the site network only once TLS is
 * there (or `insecure_http` says the network is trusted); 8443 because vigild runs as `vigil`
 * without the capability to bind below 1024, and 9464 is already /metrics.
 */
export const consoleSchema = z.strictObject({
  enabled: z.boolean().default(false),
  listen: listenSchema.default('127.0.0.1:8443'),
  /**
   * The certificate the console serves. Absent: the device's MQTT client certificate (`mqtt.cert`
   * and `mqtt.key`, what provisioning installs) when there is one, else plain HTTP, which is
   * allowed on loopback only unless `insecure_http` is set.
   */
  tls: z.strictObject({ cert: configPathSchema(), key: configPathSchema() }).optional(),
  /** Serve plain HTTP on a non-loopback address (a trusted, isolated network; passwords cross it in clear). */
  insecure_http: z.boolean().default(false),
  /** Open connections at most; more are closed at once, so a flood costs the daemon little. */
  max_connections: z.number().int().min(4).max(1024).default(64),
  /** Requests a second from one address (twice as many in a burst); more get 429 before any work is done for them. */
  requests_per_second: z.number().int().min(5).max(10_000).default(100),
  /** Live views (WebSocket) at most. */
  max_viewers: z.number().int().min(0).max(64).default(4),
  /** A session unused this long ends. */
  session_idle_min: z.number().min(1).max(1440).default(30),
  /** A session ends this long after login, used or not. */
  session_max_h: z.number().min(0.1).max(168).default(12),
  /** Failed logins allowed for a user or an address before each further one waits (doubling, at most 15 min). */
  login_free_failures: z.number().int().min(1).max(100).default(5),
}).prefault({});
export type ConsoleConfig = z.infer<typeof consoleSchema>;
