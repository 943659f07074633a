"""Reading public detections and writing MOTChallenge text, shared by the drivers."""
import numpy as np


def load_detections(path):
    """frame,-1,x,y,w,h,score,... rows as {frame: array of [x1, y1, x2, y2, score]}."""
    rows = np.loadtxt(path, delimiter=',', ndmin=2)
    if rows.shape[1] < 7:
        raise SystemExit(f'{path}: expected at least 7 columns (frame,id,x,y,w,h,score), got {rows.shape[1]}')
    by_frame = {}
    for frame in np.unique(rows[:, 0]).astype(int):
        dets = rows[rows[:, 0] == frame, 2:7].copy()
        dets[:, 2:4] += dets[:, 0:2]
        by_frame[int(frame)] = dets
    return by_frame


def keep_box(w, h, min_box_area):
    """The boxes ByteTrack's and OC-SORT's MOT evaluators write: not wider than 1.6 × their
    height, and larger than min_box_area."""
    return w * h > min_box_area and not w / h > 1.6


def write_row(out, frame, track_id, x, y, w, h):
    out.write(f'{frame},{int(track_id)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n')
