"""Runs ifzhang/ByteTrack's BYTETracker (yolox/tracker/, unchanged) over one sequence's public
detections: each frame's boxes and scores go to its public update(); the tracks it returns are
written as tools/track.py's evaluator writes them (boxes wider than 1.6 × their height or not
larger than min_box_area left out)."""
import argparse
import os
from types import SimpleNamespace

import numpy as np

import refshim
import seqio

parser = argparse.ArgumentParser()
parser.add_argument('--bytetrack', required=True, help='checkout of ifzhang/ByteTrack')
parser.add_argument('--det', required=True)
parser.add_argument('--out', required=True)
parser.add_argument('--frames', type=int, required=True, help='frames in the sequence')
parser.add_argument('--fps', type=float, required=True, help="the sequence's frame rate")
# tools/track.py's defaults, with which the README's MOT17 commands run.
parser.add_argument('--track_thresh', type=float, default=0.6)
parser.add_argument('--track_buffer', type=int, default=30)
parser.add_argument('--match_thresh', type=float, default=0.9)
parser.add_argument('--min_box_area', type=float, default=100)
parser.add_argument('--mot20', action='store_true')
args = parser.parse_args()

refshim.numpy_float_alias()
refshim.unused_modules('torch', 'torch.nn', 'torch.nn.functional', 'cv2')
refshim.package_without_init('yolox', os.path.join(os.path.abspath(args.bytetrack), 'yolox'))
from yolox.tracker.byte_tracker import BYTETracker  # noqa: E402

detections = seqio.load_detections(args.det)
tracker = BYTETracker(SimpleNamespace(track_thresh=args.track_thresh, track_buffer=args.track_buffer,
                                      match_thresh=args.match_thresh, mot20=args.mot20),
                      frame_rate=args.fps)
# update() rescales boxes by min(img_size / img_info), the detector's input size against the
# image's; public detections are already in image pixels, so both sizes are the same.
same_size = (1, 1)
with open(args.out, 'w') as out:
    for frame in range(1, args.frames + 1):
        dets = detections.get(frame, np.empty((0, 5)))
        for track in tracker.update(dets, same_size, same_size):
            x, y, w, h = track.tlwh
            if seqio.keep_box(w, h, args.min_box_area):
                seqio.write_row(out, frame, track.track_id, x, y, w, h)
