#!/usr/bin/env bash
# Test a checkpoint on GPUS processes per node with torchrun (tools/test.py --launcher pytorch); gloo on CPUs.
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (python).
source "$(dirname "$0")/launch.sh"
need_args 3 $# "CONFIG CHECKPOINT GPUS [tools/test.py options, e.g. --work-dir DIR]" "$TORCHRUN_ENV"
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
torchrun_tool test "$GPUS" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
