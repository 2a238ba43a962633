#!/usr/bin/env bash
# Train under Slurm: one task per GPU (tools/train.py --launcher slurm).
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options...]
# Environment: GPUS (8 tasks in all), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options),
# PYTHON (python).
source "$(dirname "$0")/launch.sh"
need_args 4 $# "PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]" "$SRUN_ENV"
CONFIG=$3
WORK_DIR=$4
srun_tool train "$1" "$2" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "${@:5}"
