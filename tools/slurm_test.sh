#!/usr/bin/env bash
# Test a checkpoint under Slurm: one task per GPU (tools/test.py --launcher slurm).
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options...]
# Environment: GPUS (8 tasks in all), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (extra srun options),
# PYTHON (python).
source "$(dirname "$0")/launch.sh"
need_args 4 $# "PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options, e.g. --work-dir DIR]" "$SRUN_ENV"
CONFIG=$3
CHECKPOINT=$4
srun_tool test "$1" "$2" "$CONFIG" "$CHECKPOINT" --launcher slurm "${@:5}"
