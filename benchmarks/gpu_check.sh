#!/usr/bin/env bash
# GPU figures from one prepared script (docs/performance.md, "GPU check").
#
#   bash benchmarks/gpu_check.sh --prepare      # here, with PyPI: wheels + the mmcv 2.1.0 source into .whl/
#   bash benchmarks/gpu_check.sh [--out DIR]    # on the GPU machine (no package index): install, build, measure
#   bash benchmarks/gpu_check.sh --dry-run [--out DIR]   # the same steps on the CPU at tiny sizes, no install
#
# The GPU machine has Python 3.12, torch 2.11 (CUDA 13) and nvcc 13.0 preinstalled and reaches no package
# index, so what our stack needs beyond that travels in .whl/ (ignored by git; `--prepare` measures it against
# the 64 MiB that can travel). The run:
#   1. a venv that sees the system's torch (--system-site-packages); our wheels from .whl/ (--no-index);
#   2. mmcv 2.1.0 built from .whl/'s source with CUDA ops for the GPUs present only
#      (mmcrosskd/compat/install_plan.py decides, as tools/install.sh does); if that build fails, the error is
#      kept and mmcv is built with CPU ops (the benchmarked models use no mmcv op) so the figures still come;
#   3. benchmarks/speed.py --device cuda --amp: the CPU variants and ratios (cls 224x224 batch 32; seg 512x1024
#      batch 2), exact peak GPU memory per variant;
#   4. a short quick-start training with --amp (the garment scenes if .whl/fashion-mnist travelled, else the
#      tests' synthetic scenes) under torchrun --launcher pytorch (NCCL; teachers follow the student's GPU);
#      then the growth suite (entries, teachers, DDP with NCCL, 1 process). A phase that would start after
#      GPU_CHECK_BUDGET seconds (default 450) is skipped and marked so;
#   5. everything under $OUT (or --out DIR, default work_dirs/gpu_check): gpu_check.md (figures and timings),
#      the speed reports and JSON, the logs.
# Budget: < 8 minutes on one H200 with 16 cores; each phase's time is written to gpu_check.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WHL=$ROOT/.whl
MODE=gpu
OUT_DIR=${OUT:-$ROOT/work_dirs/gpu_check}
WITH=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --prepare) MODE=prepare ;;
    --dry-run) MODE=dry ;;
    --out) OUT_DIR=$2; shift ;;
    --with) WITH+=("$2"); shift ;;
    *) echo "gpu_check.sh: unknown option $1 (use --prepare [--with PKG==VER], --dry-run, --out DIR)" >&2; exit 2 ;;
  esac
  shift
done

# Pure-Python (or small py3.12) wheels that our stack imports beyond torch, numpy, scipy, Pillow, OpenCV and
# torchvision (too large to travel together: ~120 MB; `--with PKG` adds one if it fits).
CORE=(mmengine==0.10.7 mmsegmentation==1.2.2 mmpretrain==1.2.0 addict yapf platformdirs termcolor rich
      markdown-it-py mdurl pygments ftfy wcwidth regex pyyaml packaging prettytable einops mat4py
      modelindex model-index importlib-metadata zipp tqdm ordered-set markdown setuptools==80.9.0 wheel ninja)
BIG_MODULES=(numpy scipy PIL cv2 torchvision)  # must be importable on the GPU machine (or travel via --with)

if [[ $MODE == prepare ]]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  mkdir -p "$WHL"
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$WHL" "${CORE[@]}" "${WITH[@]}" || exit 1
  # the mmcv source: PyPI has no mmcv 2.1.0 wheel; its metadata step imports torch, hence no build isolation
  $PY -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d "$WHL" mmcv==2.1.0 || exit 1
  if [[ -d /usr/share/datasets/fashion-mnist && ! -d $WHL/fashion-mnist ]]; then  # the quick start's data
    cp -r /usr/share/datasets/fashion-mnist "$WHL/fashion-mnist"
  fi
  size=$(du -sm "$WHL" | cut -f1)
  echo "[gpu_check] .whl/: $(ls "$WHL" | wc -l) entries, ${size} MiB (limit 64 MiB)"
  if (( size > 64 )); then
    echo "[gpu_check] error: .whl/ is ${size} MiB, over the 64 MiB that travel; drop a --with or the data" >&2
    exit 1
  fi
  exit 0
fi

mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
LOG=$OUT_DIR/gpu_check.log
REPORT=$OUT_DIR/gpu_check.md
: > "$LOG"
T0=$(date +%s)
PHASES=()
BUDGET=${GPU_CHECK_BUDGET:-450}  # seconds; a phase that would start later is skipped (the run must stay < 8 min)
phase() {  # phase NAME COMMAND...: run, log, time; keep going on failure (the report says which failed)
  local name=$1; shift
  local t=$(date +%s) rc
  if [[ $MODE != dry && $name != build* && $name != install* && $(( t - T0 )) -gt $BUDGET ]]; then
    PHASES+=("| $name | 0 | skipped: past the ${BUDGET} s budget |")
    echo "[gpu_check] $name: skipped (past the ${BUDGET} s budget)" | tee -a "$LOG"
    return 1
  fi
  echo "[gpu_check] $name" | tee -a "$LOG"
  "$@" >> "$LOG" 2>&1
  rc=$?
  PHASES+=("| $name | $(( $(date +%s) - t )) | $([[ $rc == 0 ]] && echo ok || echo "failed ($rc)") |")
  echo "[gpu_check] $name: rc=$rc, $(( $(date +%s) - t )) s, $(( $(date +%s) - T0 )) s in all" | tee -a "$LOG"
  return $rc
}

if [[ $MODE == dry ]]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  DEVICE=cpu
  # the same phases at tiny sizes, fewer variants (each one a model build); no install or build: this
  # checkout's venv is used
  SPEED_CLS=()
  SPEED_SEG=(--suite seg --size 64 64 --batch 2 --repeats 1 --variants student inverted)
  SPEED_GROWTH=(--suite growth --size 32 32 --batch 2 --repeats 1 --variants student teacher-free entries-2
                teachers-2 --processes 1 --no-memory)
  NPROC=1
  TRAIN_ITERS=2
else
  VENV=${GPU_CHECK_VENV:-/tmp/mmcrosskd-gpu-venv}
  PY=$VENV/bin/python
  DEVICE=cuda
  SPEED_CLS=(--suite cls --batch 32 --repeats 20 --variants student teacher-free inverted traditional ideal)
  SPEED_SEG=(--suite seg --size 512 1024 --batch 2 --repeats 15 --variants student teacher-free inverted traditional ideal)
  SPEED_GROWTH=(--suite growth --batch 32 --repeats 15 --processes 1)
  NPROC=$(nvidia-smi -L 2>/dev/null | wc -l); (( NPROC >= 1 )) || NPROC=1
  TRAIN_ITERS=200
  install() {
    python3 -m venv --system-site-packages "$VENV" || return 1
    local pip="$PY -m pip --disable-pip-version-check -q"
    $pip install --no-index --find-links "$WHL" --no-deps "${CORE[@]}" || return 1
    for mod in "${BIG_MODULES[@]}"; do  # preinstalled, or travelled with --with
      "$PY" -c "import $mod" 2>/dev/null && continue
      local pkg=${mod/PIL/pillow}; pkg=${pkg/cv2/opencv-python-headless}
      $pip install --no-index --find-links "$WHL" --no-deps "$pkg" \
        || { echo "missing $mod: not installed here and not in .whl/ (gpu_check.sh --prepare --with $pkg)"; return 1; }
    done
  }
  build_mmcv() {
    local cuda plan
    cuda=$("$PY" -c "import torch; print(torch.version.cuda or '')")
    plan=$(python3 mmcrosskd/compat/install_plan.py mmcv --torch-cuda "$cuda") || return 1
    eval "$plan"
    echo "$PLAN_MMCV_LINE"; [[ -n $PLAN_MMCV_WARNING ]] && echo "$PLAN_MMCV_WARNING"
    (eval "export $PLAN_MMCV_ENV"; MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
      "$PY" -m pip install -q --no-index --no-build-isolation --no-deps "$WHL"/mmcv-2.1.0.tar.gz) || return 1
    "$PY" -c "import mmcv.ops as o; print('mmcv', o.get_compiling_cuda_version(), o.get_compiler_version())"
  }
  build_mmcv_cpu() {
    (export FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=''; MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
      "$PY" -m pip install -q --no-index --no-build-isolation --no-deps "$WHL"/mmcv-2.1.0.tar.gz)
  }
  phase "environment" bash -c "nvidia-smi; python3 -c 'import sys, torch; print(sys.version, torch.__version__, \
torch.version.cuda, torch.cuda.is_available())'; nvcc --version | tail -2"
  [[ -f $WHL/mmcv-2.1.0.tar.gz ]] || { echo "[gpu_check] error: .whl/ was not prepared: run benchmarks/gpu_check.sh --prepare" | tee -a "$LOG"; exit 1; }
  phase "install wheels (no index)" install || exit 1
  phase "build mmcv with CUDA ops" build_mmcv || phase "build mmcv with CPU ops (fallback)" build_mmcv_cpu || exit 1
fi
export PYTHONPATH=$ROOT
SPEED=(benchmarks/speed.py --device $DEVICE --amp)

[[ ${#SPEED_CLS[@]} -gt 0 ]] && phase "speed: cls" "$PY" "${SPEED[@]}" "${SPEED_CLS[@]}" \
  --out "$OUT_DIR/performance_$DEVICE.md" --json "$OUT_DIR/speed_cls.json"
phase "speed: seg" "$PY" "${SPEED[@]}" "${SPEED_SEG[@]}" --out "$OUT_DIR/performance_$DEVICE.md" \
  --json "$OUT_DIR/speed_seg.json"

train() {
  local data=$OUT_DIR/data cfg opts
  if [[ $MODE != dry && -d $WHL/fashion-mnist ]]; then
    "$PY" tools/prepare_data.py --source "$WHL/fashion-mnist" --out "$data" --cls-train 100 --cls-val 100 \
      || return 1
    data=$data/scenes
    cfg=configs/quickstart/fcn_r18-d8_scenes-64px_kd-inverted_cls-r18.py
    # no teacher checkpoint travels: a randomly initialised classifier teacher (seed 0)
    opts=(model.teachers.cls.checkpoint=None "train_cfg.max_iters=$TRAIN_ITERS" "train_cfg.val_interval=$TRAIN_ITERS"
          "default_hooks.checkpoint.interval=$TRAIN_ITERS" "param_scheduler.0.end=$TRAIN_ITERS")
  else
    "$PY" -c "import sys; sys.path.insert(0, 'tests'); from conftest import make_tiny_seg; make_tiny_seg('$data')" \
      || return 1
    cfg=tests/data/seg_kd_tiny.py
    opts=("train_cfg.max_iters=$TRAIN_ITERS" "train_cfg.val_interval=$TRAIN_ITERS"
          "default_hooks.checkpoint.interval=$TRAIN_ITERS")
  fi
  opts+=($("$PY" -c "from mmcrosskd.runner_utils import data_root_options as d; print(' '.join(d('$data')))"))
  local port
  port=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
  "$PY" -m torch.distributed.run --nproc_per_node "$NPROC" --master_addr 127.0.0.1 --master_port "$port" \
    tools/train.py "$cfg" --amp --launcher pytorch --work-dir "$OUT_DIR/train" --cfg-options "${opts[@]}"
}
phase "train --amp ($TRAIN_ITERS iterations, $NPROC process(es))" train
phase "speed: growth" "$PY" "${SPEED[@]}" "${SPEED_GROWTH[@]}" --out "$OUT_DIR/performance_$DEVICE.md" \
  --json "$OUT_DIR/speed_growth.json"

# the report: phases with times, the speed sections, the training's last log lines
{
  echo "# GPU check ($([[ $MODE == dry ]] && echo "dry run on the CPU" || echo "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"), $(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "Command: \`bash benchmarks/gpu_check.sh$([[ $MODE == dry ]] && echo ' --dry-run')\`; $(( $(date +%s) - T0 )) s in all."
  echo
  echo "| phase | seconds | result |"
  echo "|---|---|---|"
  printf '%s\n' "${PHASES[@]}"
  echo
  [[ -f $OUT_DIR/performance_$DEVICE.md ]] && sed -n '/^## /,$p' "$OUT_DIR/performance_$DEVICE.md"
  echo "## Training"
  echo
  echo '```'
  grep -hE "AMP|Distributed training|dist_cfg|mIoU|Iter\(train\) \[ *$TRAIN_ITERS/" "$LOG" | grep -v Warning | tail -20
  echo '```'
} > "$REPORT"
echo "[gpu_check] report: $REPORT ($(( $(date +%s) - T0 )) s)"
grep -q "failed" "$REPORT" && exit 1
exit 0
