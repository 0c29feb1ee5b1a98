#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Generate configure and the Makefile.in files from a git checkout (a release
# tarball already has them).  autoreconf --install also copies automake's
# helper scripts into build-aux/, among them the TAP driver the tests use
# (configure.ac asks for it with AC_REQUIRE_AUX_FILE), so nothing is copied
# by hand.  Extra arguments go to autoreconf (e.g. --verbose).
set -e
cd "$(dirname "$0")"
autoreconf --force --install "$@"
