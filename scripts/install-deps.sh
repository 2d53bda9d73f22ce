#!/usr/bin/env bash
# Installs vimo's build and run-time dependencies from Debian 12's packages.
# Idempotent: does nothing when everything is present. Root or sudo needed.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config        # C17 toolchain and CMake
  libblis-openmp-dev libblis-dev          # BLIS 0.9 GEMM (OpenMP build)
  liblua5.4-dev lua5.4                    # Lua 5.4 experiment layer
  libmsgpack-dev                          # msgpack-c: checkpoints and caches
  libcjson-dev                            # cJSON: config.json, tokenizer.json, results
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg  # video I/O (+ CLI for tests)
  libcairo2-dev                           # motion renderer
  zlib1g-dev                              # gzip-compressed BVH
  libcmocka-dev                           # unit tests
  lua-check                               # luacheck: no globals in the Lua library
  gnuplot-nox                             # result plots (PNG)
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "vimo: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
