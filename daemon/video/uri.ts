import { redactUri } from '../util/redact.js';
import { fileURLToPath } from 'node:url';

/**
 * A stream URI taken apart. RTSP credentials are split off here so that they travel to rtspsrc as
 * properties and never appear in a pipeline description, a log line or a status.
 */
export type StreamSource =
  | { readonly kind: 'file'; readonly path: string }
  | {
    readonly kind: 'rtsp';
    /** The URI without user information: safe to log. */
    readonly location: string;
    readonly user: string | null;
    readonly password: string | null;
  }
  | { readonly kind: 'test'; readonly pattern: string; readonly width: number; readonly height: number; readonly fps: number };

export class StreamUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StreamUriError';
  }
}

/** The default test source is a moving ball: something for the motion detector to see. */
const TEST_DEFAULTS = { pattern: 'ball', width: 640, height: 480, fps: 30 };

export function parseStreamUri(uri: string): StreamSource {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new StreamUriError(`not a valid URI: ${redactUri(uri)}`);
  }
  switch (url.protocol) {
    case 'file:':
      return { kind: 'file', path: fileURLToPath(url) };
    case 'rtsp:':
    case 'rtsps:': {
      const user = url.username === '' ? null : decodeURIComponent(url.username);
      const password = url.password === '' ? null : decodeURIComponent(url.password);
      url.username = '';
      url.password = '';
      return { kind: 'rtsp', location: url.toString(), user, password };
    }
    case 'test:':
      return parseTestUri(url);
    default:
      throw new StreamUriError(`unsupported scheme ${url.protocol} in ${redactUri(uri)}`);
  }
}

function parseTestUri(url: URL): StreamSource {
  // test://ball parses with the pattern as host; test:ball or test:///ball put it in the path.
  const pattern = (url.hostname || url.pathname.replace(/^\/+/, '')) || TEST_DEFAULTS.pattern;
  // The pattern goes into a pipeline description: allow only videotestsrc's enum nicks.
  if (!/^[a-z0-9-]+$/.test(pattern)) throw new StreamUriError(`invalid test pattern "${pattern}"`);
  const int = (name: string, fallback: number, max: number): number => {
    const raw = url.searchParams.get(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new StreamUriError(`test URI: ${name} must be an integer 1-${max}, got "${raw}"`);
    return n;
  };
  return {
    kind: 'test',
    pattern,
    width: int('width', TEST_DEFAULTS.width, 7680),
    height: int('height', TEST_DEFAULTS.height, 4320),
    fps: int('fps', TEST_DEFAULTS.fps, 240),
  };
}
