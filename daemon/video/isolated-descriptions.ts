import path from 'node:path';
import { ELEMENT, quote, type AnalysisSize, type BuiltPipeline } from './pipeline.js';

/**
 * How one stream's pipeline (pipeline.ts) is split between a child process and vigild when the
 * stream is isolated (docs/process-isolation.md). The child runs the in-process pipeline with each
 * of its sinks replaced by `gdppay ! shmsink`; vigild runs, per sink, `shmsrc ! gdpdepay ! <the
 * same sink>`, so the stream (stream.ts) finds the elements it always found, by the same names,
 * and its frame path is the same appsink code.
 *
 * GDP carries the caps in band: a fit-sized frame's exact size (decided by videoscale in the child),
 * a resolution change, the access units' codec_data. shmsink copies each buffer once into a shared
 * area; shmsrc hands vigild's pipeline buffers that point into it (no copy).
 */

/** The sinks of pipeline.ts, each a branch that crosses the boundary. */
export type CrossingSink = (typeof ELEMENT)[Exclude<keyof typeof ELEMENT, 'source'>];

export interface Crossing {
  readonly sink: CrossingSink;
  /** The control socket shmsink creates and shmsrc connects to. */
  readonly socket: string;
}

export interface IsolatedDescriptions {
  /** The child's pipeline: the in-process one with shmsinks; still holds no credentials. */
  readonly child: string;
  /** vigild's side: one shmsrc per crossing, feeding a sink named as in the in-process pipeline. */
  readonly parent: string;
  readonly crossings: readonly Crossing[];
}

/** A container the child can demux without parsebin (see `childSource`). */
export type Container = 'mp4' | 'matroska' | 'mpegts' | 'raw';

const DEMUXER: Record<Container, string> = { mp4: 'qtdemux', matroska: 'matroskademux', mpegts: 'tsdemux', raw: '' };

/**
 * The container of a file from its first bytes. parsebin, which the in-process pipeline uses to
 * find it, attaches GstStream objects to its stream-start and stream-collection events, and GDP
 * cannot deserialize those (gdpdepay fails with "could not create event from GDP packet"), so the
 * child names the demuxer itself. Null: none of these.
 */
export function sniffContainer(head: Buffer): Container | null {
  if (head.length >= 8) {
    const box = head.toString('latin1', 4, 8);
    if (box === 'ftyp' || box === 'moov' || box === 'mdat' || box === 'free' || box === 'wide' || box === 'skip') return 'mp4';
  }
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return 'matroska';
  if (head.length > 376 && head[0] === 0x47 && head[188] === 0x47 && head[376] === 0x47) return 'mpegts';
  // Annex-B: a start code after any leading zero bytes.
  let i = 0;
  while (i < head.length && head[i] === 0) i++;
  if (i >= 2 && head[i] === 1) return 'raw';
  return null;
}

/**
 * Bytes each shared area holds. An area only costs the pages written (a tmpfs file), and the
 * allocator reuses freed blocks from the start, so a large area costs what is in flight at once.
 * When an area is full, shmsink waits: the frame and probe branches are drained at once by vigild's
 * dropping sinks; the access-unit and full-resolution branches sit behind leaky queues in the child,
 * so a slow reader there drops in the child rather than stall its decoder.
 */
function areaBytes(sink: CrossingSink, analysis: AnalysisSize): number {
  const MiB = 1024 * 1024;
  switch (sink) {
    case 'sink':
      // A few frames and their GDP headers: the one in vigild's appsink, one being written, spare.
      return 4 * analysis.width * analysis.height * 4 + MiB;
    case 'probe':
      return 4 * MiB;
    case 'au':
      // As much as the branch's queue holds in-process (AU_QUEUE_BYTES).
      return 16 * MiB;
    case 'full':
      // Three 4K I420 frames: the one vigild's fakesink keeps, one being written, one spare.
      return 3 * Math.ceil((3840 * 2160 * 3) / 2) + MiB;
  }
}

// A sink of pipeline.ts and its properties: `appsink name=sink max-buffers=1 drop=true sync=true`.
const SINK = new RegExp(`\\b(?:appsink|fakesink) name=(${[ELEMENT.sink, ELEMENT.probe, ELEMENT.accessUnits, ELEMENT.full].join('|')})(?![\\w-])((?: [a-z-]+=[^ !"]+)*)`, 'g');

/**
 * Splits `built` (the in-process pipeline) for a child that writes its sinks' buffers into shared
 * memory under `dir`, and vigild, which reads them. `container`: for file sources, what
 * `sniffContainer` found, replacing parsebin.
 */
export function isolatedDescriptions(built: BuiltPipeline, analysis: AnalysisSize, dir: string, container: Container | null): IsolatedDescriptions {
  const crossings: Crossing[] = [];
  const parents: string[] = [];
  let child = built.description.replace(SINK, (whole, name: string, props: string) => {
    const sink = name as CrossingSink;
    const socket = path.join(dir, sink);
    crossings.push({ sink, socket });
    // The child paces (sync) as the in-process sink would have; vigild takes buffers as they come.
    const sync = /\bsync=true\b/.test(props) ? 'true' : 'false';
    const local = /\bsync=\w+/.test(whole) ? whole.replace(/\bsync=\w+/, 'sync=false') : `${whole} sync=false`;
    parents.push(`shmsrc name=ipc_${sink} socket-path=${quote(socket)} is-live=true ! gdpdepay ! ${local}`);
    return `gdppay ! shmsink socket-path=${quote(socket)} shm-size=${areaBytes(sink, analysis)} wait-for-connection=true sync=${sync} async=false`;
  });
  if (!crossings.some((c) => c.sink === ELEMENT.sink)) throw new Error('the pipeline has no appsink named "sink" to carry across');
  if (container !== null) {
    const demux = DEMUXER[container];
    child = child.replace(' ! parsebin ! ', demux === '' ? ' ! ' : ` ! ${demux} ! `);
  }
  return { child, parent: parents.join(' '), crossings };
}

/** Whether a shmsrc of vigild's side posted this (its child went away, or its socket failed). */
export function isCrossingElement(name: string | undefined): boolean {
  return name?.startsWith('ipc_') === true;
}
