import { execFile } from 'node:child_process';

export type Codec = 'h264' | 'h265';

/**
 * How a decoder hands frames on, which decides the rest of the pipeline: `jetson` decodes into NVMM
 * buffers that only nvvidconv (the VIC) reads; `nvidia` and `software` give system-memory frames
 * for videoscale/videoconvert.
 */
export type DecoderFamily = 'jetson' | 'nvidia' | 'software';

export interface DecoderChoice {
  readonly codec: Codec;
  readonly element: string;
  readonly family: DecoderFamily;
}

/** Answers whether the platform's GStreamer registry has an element; injectable for tests. */
export interface ElementRegistry {
  has(element: string): boolean;
}

/** Candidates in order of preference, with what each needs besides itself. */
const CANDIDATES: Record<Codec, readonly { element: string; family: DecoderFamily; needs: readonly string[] }[]> = {
  h264: [
    { element: 'nvv4l2decoder', family: 'jetson', needs: ['nvvidconv'] },
    { element: 'nvh264dec', family: 'nvidia', needs: [] },
    { element: 'avdec_h264', family: 'software', needs: [] },
  ],
  h265: [
    { element: 'nvv4l2decoder', family: 'jetson', needs: ['nvvidconv'] },
    { element: 'nvh265dec', family: 'nvidia', needs: [] },
    { element: 'avdec_h265', family: 'software', needs: [] },
  ],
};

export const DECODER_ELEMENTS: readonly string[] =
  [...new Set(Object.values(CANDIDATES).flatMap((list) => list.flatMap((c) => [c.element, ...c.needs])))];

export class NoDecoderError extends Error {
  constructor(readonly codec: Codec) {
    super(`no ${codec.toUpperCase()} decoder in the GStreamer registry (tried ${CANDIDATES[codec].map((c) => c.element).join(', ')})`);
    this.name = 'NoDecoderError';
  }
}

export function chooseDecoder(codec: Codec, registry: ElementRegistry): DecoderChoice {
  for (const c of CANDIDATES[codec]) {
    if (registry.has(c.element) && c.needs.every((n) => registry.has(n))) {
      return { codec, element: c.element, family: c.family };
    }
  }
  throw new NoDecoderError(codec);
}

export function staticRegistry(elements: Iterable<string>): ElementRegistry {
  const set = new Set(elements);
  return { has: (e) => set.has(e) };
}

function gstHasElement(element: string): Promise<boolean> {
  return new Promise((resolve) => {
    // Exit status 0 means present; anything else, including a missing gst-inspect, means absent.
    execFile('gst-inspect-1.0', ['--exists', element], { timeout: 10_000 }, (err) => resolve(err === null));
  });
}

/** Asks the GStreamer registry once for each of `elements`, in parallel. */
export async function probeRegistry(elements: readonly string[] = DECODER_ELEMENTS): Promise<ElementRegistry> {
  const present = await Promise.all(elements.map(async (e) => [e, await gstHasElement(e)] as const));
  return staticRegistry(present.filter(([, ok]) => ok).map(([e]) => e));
}

let platform: Promise<ElementRegistry> | undefined;

/**
 * The platform's registry, probed on first use and then kept: which plugins are installed does not
 * change while the daemon runs, and every stream would otherwise spawn gst-inspect on each restart.
 */
export function platformRegistry(): Promise<ElementRegistry> {
  platform ??= probeRegistry();
  return platform;
}
