#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Regenerate the committed seed corpora (tests/fuzz/corpus/{ctl,agent,elf}/)
# from make-seeds.c.  Deterministic: running it twice gives the same files.
#
#   tests/fuzz/make-seeds.sh [--clean] [OUTDIR]
#
# OUTDIR defaults to tests/fuzz/corpus next to this script.  Without --clean,
# files already there (e.g. added by run.sh --merge) are kept; with --clean,
# each OUTDIR/<target>/ is emptied first.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
clean=no
if [ "${1:-}" = --clean ]; then
	clean=yes
	shift
fi
out=${1:-$here/corpus}
cc=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hvp-seeds.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Only protocol/ on the include path: <elf.h> must be the system's.
# shellcheck disable=SC2046
$cc -std=gnu11 -O1 -Wall -Wextra -o "$tmp/make-seeds" "$here/make-seeds.c" \
	-I"$top/protocol" $(pkg-config --cflags json-c 2>/dev/null || echo -I/usr/include/json-c)

mkdir -p "$out"
"$tmp/make-seeds" "$tmp/seeds"
for t in ctl agent elf; do
	if [ "$clean" = yes ]; then
		rm -rf "${out:?}/$t"
	fi
	mkdir -p "$out/$t"
	cp "$tmp/seeds/$t"/* "$out/$t/"
	echo "make-seeds: $(find "$tmp/seeds/$t" -type f | wc -l) $t seeds in $out/$t"
done
