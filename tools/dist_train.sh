#!/usr/bin/env bash
# Train on GPUS processes per node with torchrun (tools/train.py --launcher pytorch); CPU-only machines use gloo.
#   tools/dist_train.sh CONFIG GPUS [train.py options...]
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (python).
source "$(dirname "$0")/launch.sh"
need_args 2 $# "CONFIG GPUS [tools/train.py options, e.g. --work-dir DIR --resume --amp]" "$TORCHRUN_ENV"
CONFIG=$1
GPUS=$2
shift 2
torchrun_tool train "$GPUS" "$CONFIG" --launcher pytorch "$@"
