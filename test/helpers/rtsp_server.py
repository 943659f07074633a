"""A real GStreamer RTSP server for tests: serves one H.264/H.265 MP4 clip on a given port.

Usage: rtsp_server.py PORT CLIP [h264|h265]. Prints "READY rtsp://127.0.0.1:PORT/stream" once listening.
CLIP "live:" serves an endless encoded test pattern instead, as a camera does: no duration in its range.
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
    if clip == 'live:':
        # A camera's stream has no end: its RTSP range is open ("npt=now-"), unlike a file's, and
        # clients treat the two differently (rtpjitterbuffer schedules an EOS timer for a file).
        enc = 'x264enc' if codec == 'h264' else 'x265enc'
        source = (f'videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 '
                  f'! {enc} speed-preset=ultrafast tune=zerolatency key-int-max=10 ! {codec}parse config-interval=-1')
    else:
        location = clip.replace('\\', '\\\\').replace('"', '\\"')
        source = f'filesrc location="{location}" ! qtdemux ! {codec}parse config-interval=-1'
    factory.set_launch(f'( {source} ! rtp{codec}pay name=pay0 pt=96 config-interval=-1 )')
    factory.set_shared(True)
    server.get_mount_points().add_factory('/stream', factory)
    if server.attach(None) == 0:
        print(f'FAILED to listen on port {port}', flush=True)
        sys.exit(1)
    print(f'READY rtsp://127.0.0.1:{port}/stream', flush=True)
    GLib.MainLoop().run()


if __name__ == '__main__':
    main()
