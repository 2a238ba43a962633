"""What ``tools/install.sh`` installs on this machine: CPU or CUDA torch, mmcv's ops with or without CUDA.

Standard library only: it runs with the system ``python3`` before the virtual environment has torch.
``tools/install.sh`` calls it twice and ``eval``s the shell assignments it prints::

    python3 mmcrosskd/compat/install_plan.py torch                  # before torch is installed
    python3 mmcrosskd/compat/install_plan.py mmcv --torch-cuda 12.8  # torch's CUDA ('' for a CPU torch)

Decisions (the inputs are read from the environment and PATH, so a test can fake them):

* torch: the CUDA build when an NVIDIA driver is present (``/proc/driver/nvidia/version``, or an
  ``nvidia-smi`` that lists a GPU), the CPU build otherwise. ``MMCROSSKD_DEVICE=cpu|cuda|auto`` overrides
  (default ``auto``). Without a driver the pinned torch comes from the usual index, exactly as before
  (this machine's index serves the ``+cpu`` build); asking for CPU on a GPU machine uses PyTorch's CPU
  index (``MMCROSSKD_TORCH_CPU_INDEX``), since PyPI's Linux torch is the CUDA build.
* mmcv: CUDA ops when torch is a CUDA build and an ``nvcc`` of the same CUDA major version is found
  (PATH, ``$CUDA_HOME/bin``, ``/usr/local/cuda/bin``), compiled only for the architectures of the GPUs
  present (``TORCH_CUDA_ARCH_LIST``); else CPU ops with the GPU hidden during the build
  (``CUDA_VISIBLE_DEVICES=`` and ``FORCE_CUDA=0``: mmcv's setup.py compiles CUDA whenever torch sees a GPU),
  with a warning naming the models that then lack GPU kernels.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

DEVICES = ('auto', 'cpu', 'cuda')
TORCH_CPU_INDEX = 'https://download.pytorch.org/whl/cpu'
DEFAULT_CUDA_HOME = '/usr/local/cuda'  # searched after PATH and $CUDA_HOME (MMCROSSKD_CUDA_SEARCH replaces it)
# mmcv ops that OpenMMLab models call on their tensors; built CPU-only, they raise
# "... is not compiled with GPU support" on CUDA tensors. Found by reading which model code imports which
# mmcv.ops name in mmseg 1.2.2 and mmpretrain 1.2.0 (mmpretrain: none), and mmdet 3.x's detectors.
OPS_WITHOUT_GPU = ('mmdet detectors (nms in every post-processing, RoIAlign in two-stage and mask heads, '
                   'sigmoid focal loss, deformable-DETR attention); mmseg models with deformable convolutions '
                   '(dcn= backbones), PSANet (PSAMask), CCNet (CrissCrossAttention), Mask2Former '
                   "(multi-scale deformable attention) and mmseg's FocalLoss. mmpretrain classifiers and the "
                   'other mmseg models (FCN, PSPNet, DeepLabV3, UPerNet, SegFormer, PointRend...) use no '
                   'compiled mmcv op and run on the GPU')


def _run(cmd, env):
    """stdout of ``cmd``, or None if it cannot run or fails."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def detect_gpus(env):
    """The NVIDIA GPUs this machine has.

    Args:
        env (dict): the environment (``PATH`` finds ``nvidia-smi``; ``MMCROSSKD_PROC_NVIDIA`` replaces
            ``/proc/driver/nvidia/version`` in tests).

    Returns:
        dict: ``driver`` (bool), ``gpus`` (list of (name, compute capability 'X.Y' or None)).
    """
    proc_file = env.get('MMCROSSKD_PROC_NVIDIA', '/proc/driver/nvidia/version')
    gpus = []
    smi = shutil.which('nvidia-smi', path=env.get('PATH', ''))
    if smi:
        out = _run([smi, '--query-gpu=name,compute_cap', '--format=csv,noheader'], env)
        if out is None:  # drivers before ~510 have no compute_cap field
            out = _run([smi, '--query-gpu=name', '--format=csv,noheader'], env)
        for line in (out or '').splitlines():
            parts = [p.strip() for p in line.split(',')]
            if not parts[0]:
                continue
            cap = parts[1] if len(parts) > 1 and re.fullmatch(r'\d+\.\d+', parts[1]) else None
            gpus.append((parts[0], cap))
    return dict(driver=os.path.exists(proc_file) or bool(gpus), gpus=gpus)


def find_nvcc(env):
    """The CUDA compiler: (path, 'major.minor', toolkit root) or (None, None, None).

    The toolkit root is the folder holding ``include/cuda_runtime.h`` (``nvcc`` may be a wrapper script
    elsewhere, as ``/usr/local/bin/nvcc`` often is): the root nvcc reports, else its own folder's parent,
    else ``$CUDA_HOME``, else the searched roots.
    """
    homes = [env.get('CUDA_HOME')] + env.get('MMCROSSKD_CUDA_SEARCH', DEFAULT_CUDA_HOME).split(os.pathsep)
    homes = [h for h in homes if h]
    candidates = [shutil.which('nvcc', path=env.get('PATH', ''))] + [os.path.join(h, 'bin', 'nvcc') for h in homes]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            out = _run([path, '--version'], env) or ''
            m = re.search(r'release (\d+)\.(\d+)', out)
            if m:
                own = os.path.dirname(os.path.dirname(os.path.realpath(path)))
                roots = [r for r in [_nvcc_root(path, env), own] + homes
                         if r and os.path.isfile(os.path.join(r, 'include', 'cuda_runtime.h'))]
                return path, f'{m.group(1)}.{m.group(2)}', (roots[0] if roots else own)
    return None, None, None


def _nvcc_root(nvcc, env):
    """The toolkit root as nvcc itself reports it (``#$ _HERE_=<root>/bin`` in a dry run), or None."""
    try:
        out = subprocess.run([nvcc, '--dryrun', '-E', '-x', 'cu', os.devnull], capture_output=True,
                             text=True, timeout=30, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'^#\$ _HERE_=(.+)$', out.stdout + out.stderr, re.M)
    return os.path.dirname(m.group(1).strip()) if m else None


def plan_torch(env):
    """Which torch to install.

    Returns:
        dict: ``device`` ('cpu' | 'cuda'), ``index_url`` ('' = the configured index), ``line`` (the one
        line ``install.sh`` prints), ``gpus``.
    """
    want = env.get('MMCROSSKD_DEVICE', 'auto').strip().lower() or 'auto'
    if want not in DEVICES:
        raise ValueError(f'MMCROSSKD_DEVICE={want!r}: use one of {", ".join(DEVICES)} '
                         '(auto: CUDA torch when an NVIDIA driver is present)')
    hw = detect_gpus(env)
    names = ', '.join(f'{n} (sm_{c.replace(".", "")})' if c else n for n, c in hw['gpus']) or 'no GPU listed'
    nvcc, nvcc_version, _ = find_nvcc(env)
    compiler = f'nvcc {nvcc_version} at {nvcc}' if nvcc else 'no nvcc'
    if want == 'cpu' or (want == 'auto' and not hw['driver']):
        device = 'cpu'
        why = 'asked for (MMCROSSKD_DEVICE=cpu)' if want == 'cpu' else 'no NVIDIA driver found'
        # With a driver present PyPI would give the CUDA build: take the CPU one from PyTorch's index.
        index = env.get('MMCROSSKD_TORCH_CPU_INDEX', TORCH_CPU_INDEX) if hw['driver'] else ''
        line = f'[install] plan: CPU ({why}) -> CPU torch, mmcv with CPU ops'
    else:
        device, index = 'cuda', ''
        why = f'NVIDIA driver found: {names}' if hw['driver'] else 'asked for (MMCROSSKD_DEVICE=cuda), no driver found'
        line = (f'[install] plan: CUDA ({why}) -> CUDA torch; mmcv with CUDA ops if {compiler} matches '
                "torch's CUDA, else CPU ops")
    return dict(device=device, index_url=index, line=line, gpus=hw['gpus'])


def arch_list(gpus):
    """``TORCH_CUDA_ARCH_LIST`` for the GPUs present ('' when unknown: torch then asks the visible GPUs)."""
    caps = sorted({c for _, c in gpus if c}, key=lambda c: tuple(map(int, c.split('.'))))
    return ';'.join(caps)


def plan_mmcv(env, torch_cuda):
    """How to build mmcv's ops.

    Args:
        env (dict): the environment.
        torch_cuda (str): ``torch.version.cuda`` of the installed torch ('' or None for a CPU build).

    Returns:
        dict: ``cuda`` (bool), ``build_env`` (variables for the build), ``line`` (what to print),
        ``warning`` ('' or the models that lack GPU kernels).
    """
    hw = detect_gpus(env)
    nvcc, nvcc_version, cuda_home = find_nvcc(env)
    hidden = {'FORCE_CUDA': '0', 'CUDA_VISIBLE_DEVICES': ''}
    if not torch_cuda:
        # A CPU torch: mmcv's ops are CPU ops whatever the machine has. Nothing to warn about.
        return dict(cuda=False, build_env=hidden, warning='',
                    line='[install] mmcv: CPU ops (torch is a CPU build)')
    if env.get('MMCROSSKD_DEVICE', 'auto').strip().lower() == 'cpu':
        # A CUDA torch on a machine planned as CPU (e.g. the reference stack's PyPI torch without a driver).
        return dict(cuda=False, build_env=hidden, warning='',
                    line=f'[install] mmcv: CPU ops (torch is a CUDA {torch_cuda} build; this machine is planned '
                         'as CPU)')
    reason = None
    if nvcc is None:
        reason = f"no nvcc found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin); torch's CUDA is {torch_cuda}"
    elif nvcc_version.split('.')[0] != str(torch_cuda).split('.')[0]:
        reason = f"nvcc {nvcc_version} ({nvcc}) does not match torch's CUDA {torch_cuda} (major versions differ)"
    if reason:
        return dict(cuda=False, build_env=hidden, line='[install] mmcv: CPU ops, GPU hidden during the build',
                    warning=f'[install] warning: {reason}: mmcv is built with CPU ops only, so on the GPU these '
                            f'lack kernels: {OPS_WITHOUT_GPU}. Install a CUDA toolkit whose nvcc matches '
                            f'CUDA {torch_cuda} and run make install again.')
    archs = arch_list(hw['gpus'])
    build = {'FORCE_CUDA': '1', 'CUDA_HOME': cuda_home}
    if archs:
        build['TORCH_CUDA_ARCH_LIST'] = archs
    where = f'architectures {archs}' if archs else "the visible GPUs' architectures"
    return dict(cuda=True, build_env=build, warning='',
                line=f'[install] mmcv: CUDA ops for {where} (nvcc {nvcc_version}, torch CUDA {torch_cuda})')


def to_shell(values):
    """``NAME='value'`` lines for ``eval`` in bash (values quoted)."""
    return '\n'.join(f'{k}={shlex.quote(str(v))}' for k, v in values.items())


def main(argv=None, env=None):
    env = dict(os.environ if env is None else env)
    p = argparse.ArgumentParser(description='print the install plan as shell assignments')
    p.add_argument('stage', choices=['torch', 'mmcv'])
    p.add_argument('--torch-cuda', default='', help="torch.version.cuda of the installed torch ('' = CPU)")
    a = p.parse_args(argv)
    try:
        if a.stage == 'torch':
            plan = plan_torch(env)
            print(to_shell(dict(PLAN_DEVICE=plan['device'], PLAN_TORCH_INDEX=plan['index_url'],
                                PLAN_LINE=plan['line'])))
        else:
            plan = plan_mmcv(env, a.torch_cuda)
            exports = ' '.join(f'{k}={shlex.quote(v)}' for k, v in plan['build_env'].items())
            print(to_shell(dict(PLAN_MMCV_CUDA=int(plan['cuda']), PLAN_MMCV_ENV=exports,
                                PLAN_MMCV_LINE=plan['line'], PLAN_MMCV_WARNING=plan['warning'])))
    except ValueError as exc:
        print(f'[install] error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
