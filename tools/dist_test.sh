#!/usr/bin/env bash
# Test a checkpoint on GPUS processes per node with torchrun (tools/test.py --launcher pytorch); gloo on CPUs.
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options...]
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (python).
if [ $# -lt 3 ]; then
    echo "usage: $(basename "$0") CONFIG CHECKPOINT GPUS [tools/test.py options, e.g. --work-dir DIR]" >&2
    echo "  environment: NNODES=${NNODES:-1} NODE_RANK=${NODE_RANK:-0} PORT=${PORT:-29500}" \
         "MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} PYTHON=${PYTHON:-python}" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" \
    "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
