#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The C sources follow .clang-format: clang-format --dry-run --Werror on
# each, one TAP line per file, so a reviewer sees which file drifted and
# `clang-format -i FILE` fixes it.  Generated files (the bpf skeleton) are
# not ours to format.
. "${top_srcdir:-.}/tests/lib.sh"
cf=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$cf" ]; then
	echo "1..0 # SKIP clang-format is not installed (Debian package clang-format)"
	exit 0
fi
cd "$top_srcdir" || exit 1
for f in $(find bench guest-agent lib protocol tests vmm -name '*.[ch]' ! -name '*.skel.h' | sort); do
	out=$("$cf" --dry-run --Werror --style=file "$f" 2>&1 | head -5)
	tap_ok "$f follows .clang-format${out:+ ($(head -1 <<<"$out"))}" test -z "$out"
done
tap_done
