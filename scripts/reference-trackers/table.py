"""The markdown table run.sh prints: MOTA / IDF1 / HOTA per sequence and tracker, from the
`vigilctl bench mot --json` files it left in each sequence's folder, and a pooled row over the
sequences not used for tuning (counts summed as MOTChallenge sums them; HOTA, which needs counts per
threshold, is given as the mean of the sequences) and their plain mean, as `vigilctl bench mot`
gives it."""
import json
import os
import sys

TRACKERS = [('vigil', 'Vigil, defaults'), ('sort', 'SORT'), ('bytetrack', 'ByteTrack'), ('ocsort', 'OC-SORT')]

out, tuned, *names = sys.argv[1:]
tuned = set(filter(None, tuned.split(',')))


def cell(r):
    return '%.1f / %.1f / %.1f' % (r['mota'], r['idf1'], r['hota'])


def pooled(rows):
    gt = sum(r['gt'] for r in rows)
    mota = 100 * (1 - sum(r['fp'] + r['fn'] + r['idsw'] for r in rows) / gt)
    idtp = sum(r['idtp'] for r in rows)
    idf1 = 100 * 2 * idtp / (2 * idtp + sum(r['idfp'] + r['idfn'] for r in rows))
    return {'mota': mota, 'idf1': idf1, 'hota': sum(r['hota'] for r in rows) / len(rows)}


def mean(rows):
    return {k: sum(r[k] for r in rows) / len(rows) for k in ('mota', 'idf1', 'hota')}


print('| sequence | fps | frames | ' + ' | '.join(label for _, label in TRACKERS) + ' |')
print('| --- ' * (3 + len(TRACKERS)) + '|')
held_out = {key: [] for key, _ in TRACKERS}
for name in names:
    folder = os.path.join(out, name)
    with open(os.path.join(folder, 'info')) as f:
        fps, frames = f.read().split()
    results = {}
    for key, _ in TRACKERS:
        with open(os.path.join(folder, key + '.json')) as f:
            results[key] = json.load(f)
        if name not in tuned:
            held_out[key].append(results[key])
    mark = ' *' if name in tuned else ''
    print(f'| {name}{mark} | {fps} | {frames} | ' + ' | '.join(cell(results[k]) for k, _ in TRACKERS) + ' |')
count = len(held_out['vigil'])
if count:
    print(f'| all {count} held out, pooled (HOTA: mean) | | | '
          + ' | '.join(cell(pooled(held_out[k])) for k, _ in TRACKERS) + ' |')
    print(f'| all {count} held out, mean | | | '
          + ' | '.join(cell(mean(held_out[k])) for k, _ in TRACKERS) + ' |')
