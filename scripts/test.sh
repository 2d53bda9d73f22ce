#!/usr/bin/env bash
# The test command: installs missing dependencies, builds vimo (Release) and
# runs every CTest test, then rebuilds the tests with AddressSanitizer +
# UndefinedBehaviorSanitizer and runs them again. Where the CUDA toolkit is
# installed (nvcc), it also builds the CUDA backend (-DVIMO_CUDA=ON) and runs
# the backend tests there: they skip (CTest code 77) without a GPU.
# Usage: bash scripts/test.sh            (from the repository root)
#        VIMO_TEST_SANITIZE=0 bash scripts/test.sh   skips the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
JOBS=${JOBS:-$(nproc)}

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure -j"$JOBS"

if [ "${VIMO_TEST_SANITIZE:-1}" != "0" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIMO_SANITIZE=ON
  cmake --build build-asan -j"$JOBS"
  # Leak checking stays on; BLIS/OpenMP's one-time allocations are suppressed.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$JOBS" -LE slow
fi

NVCC=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
if [ -n "$NVCC" ] && [ "${VIMO_TEST_CUDA:-1}" != "0" ]; then
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DVIMO_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC"
  cmake --build build-cuda -j"$JOBS" --target backend_cuda backend_hostdev backend_test_device backend_test_ops
  ctest --test-dir build-cuda --output-on-failure -R '^backend\.'
fi
