#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Fails, naming the files, when a tracked C/C++ source, Python or shell script, CMake file or any
# file starting with #! lacks the licence line: on line 1, or line 2 after the #! line.
set -euo pipefail
cd "$(dirname "$0")/.."
spdx='SPDX-License-Identifier: GPL-3.0-or-later'
missing=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue  # deleted in the work tree, not yet in the index
  first=$(head -n1 "$f" | tr -d '\0')
  case $f in
    *.cpp | *.hpp | *.c | *.h | *.py | *.sh | *.cmake | CMakeLists.txt | */CMakeLists.txt) ;;
    *) [[ $first == '#!'* ]] || continue ;;
  esac
  line=$first
  [[ $first == '#!'* ]] && line=$(sed -n 2p "$f")
  [[ $line == *"$spdx" ]] || missing+=("$f")
done < <(git ls-files -z)
if [ ${#missing[@]} -gt 0 ]; then
  printf '  %s\n' "${missing[@]}" >&2
  echo "check-spdx.sh: ${#missing[@]} file(s) above lack the licence line. Add as line 1 (line 2" \
    "after a #! line): '// $spdx' in C/C++, '# $spdx' elsewhere." >&2
  exit 1
fi
echo "check-spdx.sh: every tracked source, script and CMake file carries '$spdx'"
