"""Runs abewley/sort's own sort.py __main__, unchanged, over one sequence's public detections.

sort.py reads <seq_path>/<phase>/*/det/det.txt and writes output/<seq>.txt in the working
directory, so the sequence is laid out that way in a scratch folder.
"""
import argparse
import os
import runpy
import shutil
import sys
import tempfile

import refshim

parser = argparse.ArgumentParser()
parser.add_argument('--sort', required=True, help='checkout of abewley/sort')
parser.add_argument('--det', required=True, help="the sequence's det.txt")
parser.add_argument('--out', required=True, help='MOTChallenge output file to write')
parser.add_argument('--max_age', default='1')
parser.add_argument('--min_hits', default='3')
parser.add_argument('--iou_threshold', default='0.3')
args = parser.parse_args()

refshim.unused_modules('matplotlib', 'matplotlib.pyplot', 'matplotlib.patches', 'skimage', 'skimage.io')
sort_py = os.path.join(os.path.abspath(args.sort), 'sort.py')
det = os.path.abspath(args.det)
out = os.path.abspath(args.out)

with tempfile.TemporaryDirectory() as scratch:
    os.makedirs(os.path.join(scratch, 'data', 'train', 'seq', 'det'))
    os.symlink(det, os.path.join(scratch, 'data', 'train', 'seq', 'det', 'det.txt'))
    os.chdir(scratch)
    sys.argv = ['sort.py', '--seq_path', 'data', '--phase', 'train', '--max_age', args.max_age,
                '--min_hits', args.min_hits, '--iou_threshold', args.iou_threshold]
    runpy.run_path(sort_py, run_name='__main__')
    shutil.copyfile(os.path.join(scratch, 'output', 'seq.txt'), out)
