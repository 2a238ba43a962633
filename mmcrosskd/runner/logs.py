"""Reading a run's logged scalars back (tests, sweeps, the demo)."""
import glob
import json
import os.path as osp


def read_scalars(work_dir, newest_run_only=False):
    """The entries of mmengine's ``<work_dir>/<timestamp>/vis_data/scalars.json`` logs, oldest run first.

    Args:
        work_dir (str): a Runner's work dir (a resumed run adds a timestamped folder).
        newest_run_only (bool): read only the latest run's log. Default False.

    Returns:
        list[dict]: one dict per logged line (training steps and validation results).
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    entries = []
    for path in files[-1:] if newest_run_only else files:
        with open(path) as f:
            entries += [json.loads(line) for line in f if line.strip()]
    return entries
