#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Builds the Debian package from a built tree (cpack -G DEB in BUILD_DIR, default build), fails
# when lintian reports any error or warning on it, then has dpkg install, upgrade, remove and
# purge it in a throwaway overlay (test/integration/deb_install_test.sh). test.sh runs it on the
# Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
[ -f "$dir/CPackConfig.cmake" ] || { echo "check-deb.sh: $dir is not a configured build directory (run cmake -S . -B $dir first)" >&2; exit 1; }
command -v lintian >/dev/null || { echo "check-deb.sh: lintian is missing (./scripts/install-deps.sh --with-tests)" >&2; exit 1; }
rm -f "$dir"/ctlabeld_*.deb
(cd "$dir" && cpack -G DEB > cpack.log 2>&1) || { cat "$dir/cpack.log"; echo "check-deb.sh: cpack failed in $dir" >&2; exit 1; }
debs=("$dir"/ctlabeld_*.deb)
[ -f "${debs[0]}" ] || { echo "check-deb.sh: cpack made no ctlabeld_*.deb in $dir" >&2; exit 1; }
rc=0
out=$(lintian --fail-on error,warning "${debs[@]}" 2>&1) || rc=$?
[ -n "$out" ] && printf '%s\n' "$out"
if [ $rc -ne 0 ] || grep -qE '^[EW]: ' <<<"$out"; then
  echo "check-deb.sh: lintian reports errors or warnings on ${debs[*]} (lintian-explain-tags TAG says why;" \
    "the package is defined in cmake/packaging.cmake and cmake/deb/)" >&2
  exit 1
fi
echo "check-deb.sh: lintian: no errors, no warnings on ${debs[*]}"
# The maintainer scripts, run by dpkg in a throwaway overlay of this machine (77: skipped).
rc=0
./test/integration/deb_install_test.sh "${debs[0]}" || rc=$?
[ $rc -eq 0 ] || [ $rc -eq 77 ] || { echo "check-deb.sh: the install/upgrade/remove/purge test failed" >&2; exit 1; }
