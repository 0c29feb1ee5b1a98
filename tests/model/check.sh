#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# make check: the SPIN models as TAP (skipped when spin is not installed).
exec "${top_srcdir:-.}/tests/model/run.sh" --tap
