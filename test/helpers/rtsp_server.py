"""A real GStreamer RTSP server for tests: serves one H.264/H.265 MP4 clip on a given port.

Usage: rtsp_server.py PORT CLIP [h264|h265]. Prints "READY rtsp://127.0.0.1:PORT/stream" once listening.
Run with /usr/bin/python3 (Debian's), which sees the gi packages.
"""
import sys

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, clip = sys.argv[1], sys.argv[2]
    codec = sys.argv[3] if len(sys.argv) > 3 else 'h264'
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address('127.0.0.1')
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    # Shared: every client sees one live feed, as from a camera. config-interval=-1 repeats SPS/PPS
    # with every key frame so that a client joining mid-stream can start decoding at once.
    location = clip.replace('\\', '\\\\').replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! qtdemux ! {codec}parse config-interval=-1 '
        f'! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )')
    factory.set_shared(True)
    server.get_mount_points().add_factory('/stream', factory)
    if server.attach(None) == 0:
        print(f'FAILED to listen on port {port}', flush=True)
        sys.exit(1)
    print(f'READY rtsp://127.0.0.1:{port}/stream', flush=True)
    GLib.MainLoop().run()


if __name__ == '__main__':
    main()
