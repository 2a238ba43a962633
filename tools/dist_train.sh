#!/usr/bin/env bash
# Train on GPUS processes per node with torchrun (tools/train.py --launcher pytorch); CPU-only machines use gloo.
#   tools/dist_train.sh CONFIG GPUS [train.py options...]
# Environment: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (python).
if [ $# -lt 2 ]; then
    echo "usage: $(basename "$0") CONFIG GPUS [tools/train.py options, e.g. --work-dir DIR --resume --amp]" >&2
    echo "  environment: NNODES=${NNODES:-1} NODE_RANK=${NODE_RANK:-0} PORT=${PORT:-29500}" \
         "MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} PYTHON=${PYTHON:-python}" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" \
    "$HERE/train.py" "$CONFIG" --launcher pytorch "$@"
