#!/bin/sh
# batch_convert.sh VIMO OUT_DIR - runs `vimo motion convert --batch` over every
# shared BVH folder and checks that every clip became a (T, 263) .npy; then
# gzips one folder and converts it again to cover .bvh.gz input.
# Exit 77 (CTest skip) when the shared data is absent.
set -u
VIMO=$1
OUT=$2
DATA=${VIMO_SHARED_DATA:-$(dirname "$0")/../../../shared/data}
[ -d "$DATA/motion/bandai_namco" ] || { echo "no shared data at $DATA: skipped"; exit 77; }
rm -rf "$OUT"
mkdir -p "$OUT"

check() { # folder, expected count
    "$VIMO" motion convert --batch "$DATA/motion/$1" "$OUT/$1" || { echo "FAIL: batch $1"; exit 1; }
    n=$(ls "$OUT/$1" | grep -c '\.npy$')
    [ "$n" -eq "$2" ] || { echo "FAIL: $1: $n .npy files, expected $2"; exit 1; }
}
check bandai_namco/dataset-1/data 174
check bandai_namco/dataset-2/data 210
check cmu_mocap/bvh 20

# Every output is float32 (T, 263) with T >= 1: NPY 1.0 puts the data at byte
# 128 for such a header, so the size is 128 + T * 1052. One file also via info.
find "$OUT" -name '*.npy' -printf '%s %p\n' |
    awk '$1 < 128 + 1052 || ($1 - 128) % 1052 != 0 { print "FAIL: size " $1 ": " $2; bad = 1 } END { exit bad }' ||
    exit 1
"$VIMO" motion info "$OUT/cmu_mocap/bvh/09_05.npy" | grep -q 'HumanML3D features, 23 frames' ||
    { echo "FAIL: info on 09_05.npy"; exit 1; }

# .bvh.gz input gives the same bytes as the plain files.
mkdir -p "$OUT/gz_in"
for f in "$DATA"/motion/cmu_mocap/bvh/*.bvh; do gzip -c "$f" > "$OUT/gz_in/$(basename "$f").gz"; done
"$VIMO" motion convert --batch "$OUT/gz_in" "$OUT/gz_out" || { echo "FAIL: batch gz"; exit 1; }
for f in "$OUT"/cmu_mocap/bvh/*.npy; do
    cmp -s "$f" "$OUT/gz_out/$(basename "$f")" || { echo "FAIL: gz output differs for $f"; exit 1; }
done

# A broken file in a folder is reported and makes the batch fail.
mkdir -p "$OUT/broken"
cp "$DATA/motion/cmu_mocap/bvh/09_05.bvh" "$OUT/broken/ok.bvh"
printf 'HIERARCHY\nROOT a\n{\n' > "$OUT/broken/bad.bvh"
if "$VIMO" motion convert --batch "$OUT/broken" "$OUT/broken_out" 2> "$OUT/broken.err"; then
    echo "FAIL: batch with a broken file succeeded"; exit 1
fi
grep -q 'bad.bvh:3:' "$OUT/broken.err" || { echo "FAIL: no file:line in"; cat "$OUT/broken.err"; exit 1; }
[ -f "$OUT/broken_out/ok.npy" ] || { echo "FAIL: good file not converted next to a broken one"; exit 1; }
echo "batch conversion OK"
