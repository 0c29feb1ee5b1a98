#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# tests/patch-matrix.sh with 2 vCPUs.
HVP_MATRIX_VCPUS=2 exec bash "$(dirname "$0")/patch-matrix.sh"
