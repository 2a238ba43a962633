"""benchmarks/gpu_check.sh --dry-run: the GPU script's phases on the CPU at tiny sizes (no install or build):
speed.py with --amp (bf16 on CPU) and peak memory, the growth suite with DDP (gloo, 1 process), and a
training under torchrun --launcher pytorch with --amp; its report lists every phase as ok."""
import json
import os
import os.path as osp
import subprocess
import sys

from conftest import ROOT


def test_gpu_check_dry_run(tmp_path):
    out = tmp_path / 'out'
    env = dict(os.environ, PYTHON=sys.executable, PYTHONUNBUFFERED='1')
    proc = subprocess.run(['bash', osp.join(ROOT, 'benchmarks', 'gpu_check.sh'), '--dry-run', '--out', str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    report = (out / 'gpu_check.md').read_text() if (out / 'gpu_check.md').exists() else ''
    log = (out / 'gpu_check.log').read_text()[-6000:] if (out / 'gpu_check.log').exists() else ''
    assert proc.returncode == 0, proc.stdout + proc.stderr + report + log
    for phase in ('speed: seg', 'speed: growth', 'train --amp (2 iterations, 1 process(es))'):
        assert f'| {phase} |' in report and 'failed' not in report, report
    seg = json.loads((out / 'speed_seg.json').read_text())['seg']
    assert set(seg['median_s']) == {'student', 'inverted'} and seg['size'] == [64, 64]
    assert set(seg['peak_mem_mb']) == {'student', 'inverted'} and all(v >= 0 for v in seg['peak_mem_mb'].values())
    growth = json.loads((out / 'speed_growth.json').read_text())
    assert set(growth['growth']['median_s']) == {'student', 'teacher-free', 'entries-2', 'teachers-2'}
    assert set(growth['processes']['1']['median_s']) == {'student', 'entries-1'}
    assert '| entries-2 |' in report and '### processes' in report
    assert 'AMP without CUDA: CPUAutocastOptimWrapper' in report and "'backend': 'gloo'" in report
