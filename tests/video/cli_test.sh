#!/bin/sh
# cli_test.sh VIMO - `vimo video` and `vimo render` end to end, checked with
# ffprobe (independent): PNG sizes, MP4 frame counts, error exit codes and
# messages. Exits 77 (skip) without the shared data or the ffmpeg tools.
set -u
VIMO=$1
DATA=${VIMO_SHARED_DATA:-$(dirname "$0")/../../../shared/data}
CLIP=$DATA/video/mmaction2/demo.mp4
BVH=$DATA/motion/bandai_namco/dataset-1/data/dataset-1_walk_normal_001.bvh
command -v ffprobe >/dev/null 2>&1 || { echo "skip: no ffprobe"; exit 77; }
[ -f "$CLIP" ] || { echo "skip: no $CLIP"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vimo_cli_XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
probe() { ffprobe -v error -count_frames -select_streams v:0 -show_entries "stream=$2" -of csv=p=0 "$1"; }

# info: the numbers ffprobe reports for demo.mp4
"$VIMO" video info "$CLIP" > "$TMP/info.txt" || fail "video info"
grep -q "size: *340x256" "$TMP/info.txt" || fail "info size"
grep -q "frames: *280 (header)" "$TMP/info.txt" || fail "info frames"

# frames: 3 crops of 224x224 and the native frames
"$VIMO" video frames "$CLIP" --n 3 --out "$TMP/f" --native > /dev/null || fail "video frames"
for i in 00 01 02; do
  [ "$(probe "$TMP/f/frame_$i.png" width,height)" = "224,224" ] || fail "crop $i size"
  [ "$(probe "$TMP/f/native_$i.png" width,height)" = "340,256" ] || fail "native $i size"
done
[ -f "$TMP/f/frame_03.png" ] && fail "wrote more frames than asked"
# GOP-parallel sampling (2 readers) writes the same crops byte for byte
"$VIMO" video frames "$CLIP" --n 8 --out "$TMP/w1" > /dev/null || fail "frames --workers 1"
"$VIMO" video frames "$CLIP" --n 8 --out "$TMP/w2" --workers 2 > /dev/null || fail "frames --workers 2"
for i in 00 03 07; do
  cmp -s "$TMP/w1/frame_$i.png" "$TMP/w2/frame_$i.png" || fail "--workers 2 frame $i differs"
done
if "$VIMO" video frames "$CLIP" --workers 0 --out "$TMP/w0" 2> /dev/null; then fail "--workers 0 accepted"; fi
"$VIMO" video time "$CLIP" --repeats 1 --workers 2 > "$TMP/time.txt" || fail "video time --workers 2"
grep -q "workers=2 (2 used)" "$TMP/time.txt" || fail "time --workers: $(cat "$TMP/time.txt")"
"$VIMO" video frames "$CLIP" --n 2 --size 64 --out "$TMP/g" > /dev/null || fail "frames --size"
[ "$(probe "$TMP/g/frame_01.png" width,height)" = "64,64" ] || fail "size 64"

# errors: non-zero exit, "vimo video: ..." naming the file
echo "not a video" > "$TMP/bad.mp4"
if "$VIMO" video info "$TMP/bad.mp4" 2> "$TMP/err.txt"; then fail "bad file accepted"; fi
grep -q "^vimo video: .*bad.mp4" "$TMP/err.txt" || fail "error message: $(cat "$TMP/err.txt")"
if "$VIMO" video frames "$CLIP" --n 0 --out "$TMP/h" 2> /dev/null; then fail "--n 0 accepted"; fi

# render: 195 BVH frames at 30 fps -> floor(194 * 20 / 30) + 1 = 130 at 20 fps
if [ -f "$BVH" ]; then
  for view in front side three-quarter; do
    "$VIMO" render "$BVH" "$TMP/walk_$view.mp4" --view $view > /dev/null || fail "render $view"
    [ "$(probe "$TMP/walk_$view.mp4" nb_read_frames)" = "130" ] || fail "render $view frames"
  done
  "$VIMO" render "$BVH" "$TMP/walk.mp4" --size 128 --fps 30 > /dev/null || fail "render 30 fps"
  [ "$(probe "$TMP/walk.mp4" width,height,pix_fmt,nb_read_frames)" = "128,128,yuv420p,195" ] ||
    fail "render size/fps: $(probe "$TMP/walk.mp4" width,height,pix_fmt,nb_read_frames)"
  if "$VIMO" render "$BVH" "$TMP/x.mp4" --view top 2> /dev/null; then fail "--view top accepted"; fi
  if "$VIMO" render "$CLIP" "$TMP/x.mp4" 2> "$TMP/err.txt"; then fail "mp4 as bvh accepted"; fi
  grep -q "^vimo render: " "$TMP/err.txt" || fail "render error message"
  [ -e "$TMP/x.mp4" ] && fail "failed render left a file"
fi
HML=$DATA/motion/humanml3d/new_joints/012314.npy
if [ -f "$HML" ]; then
  "$VIMO" render "$HML" "$TMP/hml.mp4" > /dev/null || fail "render npy"
  [ "$(probe "$TMP/hml.mp4" nb_read_frames)" = "170" ] || fail "npy frames"
fi
echo "ok"
