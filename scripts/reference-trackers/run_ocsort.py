"""Runs noahcao/OC_SORT's OCSort (trackers/ocsort_tracker/, unchanged) over one sequence's public
detections: each frame's boxes and scores go to its public update(); the tracks it returns are
written as its MOT evaluators write them (boxes wider than 1.6 × their height or not larger than
min_box_area left out)."""
import argparse
import os
import sys

import numpy as np

import seqio

parser = argparse.ArgumentParser()
parser.add_argument('--ocsort', required=True, help='checkout of noahcao/OC_SORT')
parser.add_argument('--det', required=True)
parser.add_argument('--out', required=True)
parser.add_argument('--frames', type=int, required=True, help='frames in the sequence')
# utils/args.py's defaults, with which docs/GET_STARTED.md's MOT17 commands run; max_age is
# OCSort's own default (the evaluators do not set it).
parser.add_argument('--track_thresh', type=float, default=0.6)
parser.add_argument('--iou_thresh', type=float, default=0.3)
parser.add_argument('--min_hits', type=int, default=3)
parser.add_argument('--max_age', type=int, default=30)
parser.add_argument('--inertia', type=float, default=0.2)
parser.add_argument('--deltat', type=int, default=3)
parser.add_argument('--asso', default='iou')
parser.add_argument('--use_byte', action='store_true')
parser.add_argument('--min_box_area', type=float, default=10)
args = parser.parse_args()

sys.path.insert(0, os.path.abspath(args.ocsort))
from trackers.ocsort_tracker.ocsort import OCSort  # noqa: E402

detections = seqio.load_detections(args.det)
tracker = OCSort(args.track_thresh, max_age=args.max_age, min_hits=args.min_hits,
                 iou_threshold=args.iou_thresh, delta_t=args.deltat, asso_func=args.asso,
                 inertia=args.inertia, use_byte=args.use_byte)
# update() rescales boxes by min(img_size / img_info); public detections are in image pixels.
same_size = (1, 1)
with open(args.out, 'w') as out:
    for frame in range(1, args.frames + 1):
        dets = detections.get(frame, np.empty((0, 5)))
        for x1, y1, x2, y2, track_id in tracker.update(dets, same_size, same_size):
            w, h = x2 - x1, y2 - y1
            if seqio.keep_box(w, h, args.min_box_area):
                seqio.write_row(out, frame, track_id, x1, y1, w, h)
