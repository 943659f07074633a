import type { Overlay } from './types.js';

/** `{type: "init"}` before each init segment: the codec string and the wall clock of the first frame (media time 0). */
export interface InitMessage { type: 'init'; codec: string; width: number; height: number; wall_ms: number }
export type LiveTracks = Pick<Overlay, 'ts' | 'width' | 'height' | 'tracks'>;
type LiveMessage = InitMessage | ({ type: 'overlay' } & LiveTracks) | { type: 'error'; message: string };

/** No video this long after asking (a source without compressed video, a camera's long keyframe interval): snapshots instead. */
export const FIRST_VIDEO_MS = 8000;

export interface LiveSocketHandlers {
  onInit(msg: InitMessage): void;
  /** The init segment after an init message, then one media fragment per message. */
  onBinary(data: ArrayBuffer): void;
  onTracks(o: LiveTracks): void;
  /** The socket closed (refused, the device's error message, or gone). */
  onClose(reason: string): void;
}

/**
 * /api/live (docs/console.md): after `{stream}` the device sends JSON text messages (init, overlay,
 * error) and binary fragmented MP4. The session cookie goes with the upgrade, as with every request.
 */
export function openLiveSocket(stream: string, h: LiveSocketHandlers): { close(): void } {
  const ws = new WebSocket(`${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/api/live`);
  ws.binaryType = 'arraybuffer';
  let lastError = '';
  let closed = false;
  ws.onopen = () => ws.send(JSON.stringify({ stream }));
  ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
    if (typeof e.data !== 'string') {
      h.onBinary(e.data);
      return;
    }
    const msg = JSON.parse(e.data) as LiveMessage;
    switch (msg.type) {
      case 'init': h.onInit(msg); break;
      case 'overlay': h.onTracks(msg); break;
      case 'error': lastError = msg.message; break;
    }
  };
  ws.onclose = (e) => {
    if (!closed) h.onClose(lastError || e.reason || `live video closed (${e.code})`);
  };
  return {
    close: () => {
      closed = true;
      ws.close();
    },
  };
}
