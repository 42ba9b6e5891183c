#!/usr/bin/python3
"""A simulated IP camera: GStreamer's gst-rtsp-server (Debian
gir1.2-gst-rtsp-server-1.0, python3-gi) serving a live H.264 + AAC test
source at rtsp://127.0.0.1:PORT/cam. Prints "ready" once listening; runs
until killed."""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

LAUNCH = (
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
    "! openh264enc gop-size=60 ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 "
    "audiotestsrc is-live=true ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 "
    "! avenc_aac ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
)


def main():
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(sys.argv[1])
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(LAUNCH)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit("cannot listen on port " + sys.argv[1])
    print("ready", flush=True)
    GLib.MainLoop().run()


main()
