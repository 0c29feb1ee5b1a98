#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# make check: run every committed fuzz input (tests/fuzz/corpus/*/ and
# tests/fuzz/regress/*/) once through its libFuzzer target, built with
# ASan and UBSan.  Speaks TAP; a TAP skip when clang's libFuzzer is absent
# (Debian: clang and libclang-rt-14-dev).
here=$(cd "$(dirname "$0")" && pwd)
b=${top_builddir:-.}
if [ -z "${HVP_FUZZ_CONFIG_DIR:-}" ] && [ -f "$b/config.h" ]; then
	HVP_FUZZ_CONFIG_DIR=$(cd "$b" && pwd)
	export HVP_FUZZ_CONFIG_DIR
fi
# No BUILDDIR: a temporary one, removed unless something failed (so that
# distcheck finds nothing left behind).
exec "$here/run.sh" --regress --tap
