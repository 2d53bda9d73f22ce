#!/usr/bin/env bash
# The main job: installs missing dependencies, builds vimo (Release) and runs
# the motion-only vs video-only vs joint ablation on the shipped data.
# Usage: bash scripts/quickstart.sh [key=value ...]   (passed to the ablation)
# Results: results/ablation/{results.json,results.md,loss.png,accuracy.png}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS" >/dev/null
exec build/vimo run experiments/ablation.lua "$@"
