# Shared by tools/{dist,slurm}_{train,test}.sh (sourced, not run): the usage check and the two launchers.
# Each script keeps its own argument names; what starts the processes is written once here.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# need_args MIN ACTUAL USAGE ENV_LINE: usage on stderr and exit 2 when fewer than MIN arguments were given.
need_args() {
    if [ "$2" -lt "$1" ]; then
        echo "usage: $(basename "$0") $3" >&2
        echo "  environment: $4" >&2
        exit 2
    fi
}

TORCHRUN_ENV="NNODES=${NNODES:-1} NODE_RANK=${NODE_RANK:-0} PORT=${PORT:-29500} MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} PYTHON=${PYTHON:-python}"
SRUN_ENV="GPUS=${GPUS:-8} GPUS_PER_NODE=${GPUS_PER_NODE:-8} CPUS_PER_TASK=${CPUS_PER_TASK:-5} SRUN_ARGS='${SRUN_ARGS:-}' PYTHON=${PYTHON:-python}"

# torchrun_tool TOOL NPROC ARGS...: tools/TOOL.py ARGS on NPROC processes per node (ARGS hold --launcher pytorch;
# gloo on CPUs).
torchrun_tool() {
    local tool=$1 nproc=$2
    shift 2
    PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "${PYTHON:-python}" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$nproc" \
        "$HERE/$tool.py" "$@"
}

# srun_tool TOOL PARTITION JOB_NAME ARGS...: tools/TOOL.py ARGS as one Slurm task per GPU (ARGS hold --launcher slurm).
srun_tool() {
    local tool=$1 partition=$2 job_name=$3
    shift 3
    # SRUN_ARGS is a list of options: split on spaces on purpose
    # shellcheck disable=SC2086
    PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"${GPUS_PER_NODE:-8}" \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="${GPUS_PER_NODE:-8}" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "${PYTHON:-python}" -u "$HERE/$tool.py" "$@"
}
