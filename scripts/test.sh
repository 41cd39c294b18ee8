#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The whole test suite from a clean clone (as root): installs dependencies, checks the C++ format
# and the licence lines, builds Release and runs every test, builds the .deb and lints it; builds
# ASan+UBSan and runs them again (less the long flood and soak runs); fuzzes the four libFuzzer
# targets for a bounded time; and runs the threaded parts under ThreadSanitizer. CI (.ci/run)
# calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d ../shared/pcaps ] || { echo "test.sh: ../shared/pcaps (the shared captures) must sit beside the repo" >&2; exit 1; }
./scripts/install-deps.sh --with-tests
jobs=$(nproc)

build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCTLABELD_TESTS=ON "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" -j "$jobs"
}

echo "== format (clang-format --dry-run, .clang-format)"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run --Werror "${sources[@]}" || { echo "test.sh: run clang-format -i on the files above" >&2; exit 1; }

echo "== licence lines (SPDX)"
./scripts/check-spdx.sh

echo "== Release build and tests"
build build -DCMAKE_BUILD_TYPE=Release
(cd build && ctest --output-on-failure -j "$jobs" ${CTEST_ARGS:-})

echo "== Debian package (cpack -G DEB of the Release build) and lintian"
./scripts/check-deb.sh build

echo "== ASan+UBSan build and tests"
build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCTLABELD_SANITIZE=address,undefined
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j "$jobs" -E 'reliability_(flood|soak)' ${CTEST_ARGS:-})

echo "== bounded fuzzing (libFuzzer, ${FUZZ_SECONDS:=60} s per target)"
FUZZ_SECONDS=$FUZZ_SECONDS ./scripts/fuzz.sh

echo "== ThreadSanitizer"
./scripts/tsan.sh
echo "== all test suites passed"
echo "suites: 6 passed, 0 failed"
