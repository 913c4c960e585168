#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# spdx_headers.sh ROOT: fails when a source file of the repository lacks its
# licence identifier ("SPDX-License-Identifier: MPL-2.0" in its first 3
# lines, LICENSES.md). Source files: C files and headers, CMake files, shell
# and Python scripts (by extension or by a #! line), the proto, the
# Dockerfile and compose file, the web view's own files (not vendor/). Build trees, bench/out and the test data and
# fuzz corpora (captures, not sources; tests/data/oracle.sh is checked) are
# not looked at.
set -uo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root" || exit 2
missing=0
checked=0
while IFS= read -r -d '' file; do
    case $file in
    *.c | *.h | *.cmake | */CMakeLists.txt | *.sh | *.py | *.proto | */Dockerfile | *.Dockerfile | *.yml) ;;
    */vendor/*) continue ;; # vendored files keep their own licence (LICENSES.md)
    *.html | *.js | *.css) ;;
    *) [ "$(head -c 2 "$file" | tr -d '\0')" = '#!' ] || continue ;;
    esac
    checked=$((checked + 1))
    if ! head -n 3 "$file" | grep -q 'SPDX-License-Identifier: MPL-2.0'; then
        echo "spdx_headers: ${file#./} has no 'SPDX-License-Identifier: MPL-2.0' in its first 3 lines"
        missing=$((missing + 1))
    fi
done < <(find . \( -name .git -o -name 'build*' -o -path ./bench/out -o -path ./tests/fuzz/corpus \
    -o -path ./tests/data/expected -o -name 'cmake-build-*' \) -prune -o -type f -print0)
echo "spdx_headers: $checked source files, $missing without an identifier"
[ "$checked" -gt 0 ] && [ "$missing" -eq 0 ]
