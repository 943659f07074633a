import { chooseDecoder, staticRegistry, type Codec, type DecoderFamily } from './decoders.js';
import { buildPipeline, MOTION_ONLY_ANALYSIS } from './pipeline.js';
import { parseStreamUri } from './uri.js';

/** One source of each kind the pipeline builder knows; their locations never reach GStreamer. */
const SAMPLE_URIS = ['rtsp://camera.invalid/stream', 'file:///clip.mp4', 'test://ball'];
const CODECS: readonly Codec[] = ['h264', 'h265'];
const FAMILY_DECODERS: Record<Exclude<DecoderFamily, 'nvidia'>, string[]> = {
  software: ['avdec_h264', 'avdec_h265'],
  jetson: ['nvv4l2decoder', 'nvvidconv'],
};

/**
 * The element factories the stream pipelines are built from on a platform of `family`, read off
 * the descriptions `buildPipeline` really produces for every source kind and codec, so that
 * `vigilctl doctor` checks what a stream will ask GStreamer for, not a second list that drifts.
 */
export function pipelineElements(family: Exclude<DecoderFamily, 'nvidia'> = 'software'): string[] {
  const registry = staticRegistry(FAMILY_DECODERS[family]);
  const names = new Set<string>();
  for (const uri of SAMPLE_URIS) {
    for (const codec of CODECS) {
      const { description } = buildPipeline({
        source: parseStreamUri(uri), decoder: chooseDecoder(codec, registry), fps: 5, analysis: MOTION_ONLY_ANALYSIS,
        sync: true, rtsp: { transport: 'tcp', latencyMs: 200 },
      });
      for (const name of factoriesOf(description)) names.add(name);
    }
  }
  return [...names].sort();
}

/** The first word of each `!`-separated part that names an element (caps and tee pads do not). */
function factoriesOf(description: string): string[] {
  return description.split('!').map((part) => part.trim().split(/\s+/)[0] ?? '')
    .filter((word) => /^[a-z][a-z0-9_]*$/.test(word));
}
