#!/usr/bin/env bash
# Reruns SORT, ByteTrack and OC-SORT, unchanged, over each sequence's public detections and scores
# them and Vigil's tracker with `vigilctl bench mot`. See README.md in this folder.
set -euo pipefail

usage() {
  cat >&2 <<'USAGE'
usage: run.sh --sort DIR --bytetrack DIR --ocsort DIR --deps PATHS --out DIR [--fps N] [--tuned a,b] SEQ_DIR...
  --sort, --bytetrack, --ocsort   checkouts of abewley/sort, ifzhang/ByteTrack, noahcao/OC_SORT
  --deps    PYTHONPATH for their dependencies (filterpy, lap, cython_bbox), colon-separated
  --out     folder for the unpacked sequences, each tracker's output and the table (table.md)
  --fps     frame rate of a sequence without seqinfo.ini (default 25)
  --tuned   sequences Vigil's defaults were tuned on, marked * (default TUD-Campus)
  SEQ_DIR   gt/gt.txt or gt.txt and det/det.txt or det.txt, either gzip-compressed (.txt.gz),
            optional seqinfo.ini (frameRate, seqLength)
vigilctl is the project's build (node dist/cli/main.js), or the command in VIGILCTL.
Extra tracker arguments: SORT_ARGS, BYTETRACK_ARGS, OCSORT_ARGS (e.g. BYTETRACK_ARGS='--match_thresh 0.8').
USAGE
  exit 2
}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vigilctl=(node "$repo/dist/cli/main.js")
if [[ -n "${VIGILCTL:-}" ]]; then read -ra vigilctl <<< "$VIGILCTL"; fi
sort_dir='' bytetrack_dir='' ocsort_dir='' deps='' out='' fps=25 tuned=TUD-Campus
seqs=()
while (($#)); do
  case "$1" in
    --sort) sort_dir="$2"; shift 2 ;;
    --bytetrack) bytetrack_dir="$2"; shift 2 ;;
    --ocsort) ocsort_dir="$2"; shift 2 ;;
    --deps) deps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --fps) fps="$2"; shift 2 ;;
    --tuned) tuned="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "run.sh: unknown option $1" >&2; usage ;;
    *) seqs+=("$1"); shift ;;
  esac
done
[[ -n "$sort_dir" && -n "$bytetrack_dir" && -n "$ocsort_dir" && -n "$out" && ${#seqs[@]} -gt 0 ]] || usage
for f in "$sort_dir/sort.py" "$bytetrack_dir/yolox/tracker/byte_tracker.py" "$ocsort_dir/trackers/ocsort_tracker/ocsort.py"; do
  [[ -f "$f" ]] || { echo "run.sh: $f not found (a checkout, or the project's build: npx tsc -p tsconfig.json)" >&2; exit 1; }
done
export PYTHONPATH="$here${deps:+:$deps}"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the checkout
mkdir -p "$out"

# Copies the first of a folder's candidates for $2 (gt or det) that exists to $3, unpacking .gz.
unpack() {
  local dir="$1" name="$2" dest="$3" f
  for f in "$dir/$name/$name.txt" "$dir/$name.txt" "$dir/$name/$name.txt.gz" "$dir/$name.txt.gz"; do
    if [[ -f "$f" ]]; then
      if [[ "$f" == *.gz ]]; then gzip -dc "$f" > "$dest"; else cp "$f" "$dest"; fi
      return 0
    fi
  done
  echo "run.sh: no $name.txt in $dir" >&2; exit 1
}

ini() { tr -d '\r' < "$1" 2>/dev/null | sed -n "s/^$2=\\s*\\([^ ]*\\).*/\\1/p" | head -n1; }

score() {  # gt hyp json benchmark-flag
  # shellcheck disable=SC2086
  "${vigilctl[@]}" bench mot --gt "$1" --hyp "$2" $4 --json > "$3"
}

names=()
for src in "${seqs[@]}"; do
  name="$(basename "$src")"
  d="$out/$name"
  mkdir -p "$d"
  unpack "$src" gt "$d/gt.txt"
  unpack "$src" det "$d/det.txt"
  [[ -f "$src/seqinfo.ini" ]] && cp "$src/seqinfo.ini" "$d/seqinfo.ini"
  rate="$(ini "$d/seqinfo.ini" frameRate)"; rate="${rate:-$fps}"
  frames="$(ini "$d/seqinfo.ini" seqLength)"
  if [[ -z "$frames" ]]; then
    frames="$(cut -d, -f1 "$d/gt.txt" "$d/det.txt" | sort -n | tail -n1)"
  fi
  bench=''
  [[ "$name" == MOT20-* ]] && bench='--benchmark MOT20'

  echo "== $name: $frames frames at $rate fps" >&2
  # shellcheck disable=SC2086 # the *_ARGS are word lists on purpose
  python3 "$here/run_sort.py" --sort "$sort_dir" --det "$d/det.txt" --out "$d/sort.txt" ${SORT_ARGS:-} >&2
  # shellcheck disable=SC2086
  python3 "$here/run_bytetrack.py" --bytetrack "$bytetrack_dir" --det "$d/det.txt" --out "$d/bytetrack.txt" \
    --frames "$frames" --fps "$rate" ${BYTETRACK_ARGS:-}
  # shellcheck disable=SC2086
  python3 "$here/run_ocsort.py" --ocsort "$ocsort_dir" --det "$d/det.txt" --out "$d/ocsort.txt" \
    --frames "$frames" ${OCSORT_ARGS:-}

  # shellcheck disable=SC2086
  "${vigilctl[@]}" bench mot --seq "$d" $bench --json |
    python3 -c 'import json,sys; json.dump(json.load(sys.stdin)["sequences"][0], sys.stdout)' > "$d/vigil.json"
  for t in sort bytetrack ocsort; do score "$d/gt.txt" "$d/$t.txt" "$d/$t.json" "$bench"; done
  echo "$rate $frames" > "$d/info"
  names+=("$name")
done
python3 "$here/table.py" "$out" "$tuned" "${names[@]}" | tee "$out/table.md"
