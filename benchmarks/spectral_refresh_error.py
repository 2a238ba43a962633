"""How far a kept subspace (``SpectralTailLoss(refresh_interval=N)``) moves the teacher-free loss, and what it saves.

    .venv/bin/python benchmarks/spectral_refresh_error.py [--steps 48] [--interval 8] [--json PATH]

Trains the student of ``benchmarks/speed.py``'s seg suite (mmseg FCN-ResNetV1c-18, d8, 256 x 256, batch 4: its
stage-4 map is 4096 positions x 512 channels) with SGD on real garment scenes (``tools/prepare_data.py``,
64 x 64 scenes upsampled to 256 x 256) and the teacher-free entry of the shipped configs
(``SpectralTailLoss(energy=0.9, normalized=True)``, weight 0.01) with the subspace kept for ``--interval``
steps. At every step the exact loss of the same feature is computed beside it (no gradient), so the table
gives, per step, kept / exact; and the process CPU time (one thread) of the loss forward + backward, kept
and exact, on the same features. A kept subspace can only over-estimate the tail, so the ratio is >= 1.
"""
import argparse
import glob
import json
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def scene_batches(batch, size, steps, seed=0):
    """``steps`` batches of real garment scenes (images, labels), resized to ``size``."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    root = osp.join(ROOT, 'data', 'fashion_mnist', 'scenes')
    images = sorted(glob.glob(osp.join(root, 'img_dir', 'train', '*.png')))
    if not images:
        raise FileNotFoundError(f'no garment scenes under {root}: run tools/prepare_data.py first')
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        picks = rng.choice(len(images), batch, replace=False)
        imgs, segs = [], []
        for i in picks:
            img = torch.from_numpy(np.array(Image.open(images[i]).convert('RGB'))).permute(2, 0, 1)
            ann = images[i].replace('img_dir', 'ann_dir')
            seg = torch.from_numpy(np.array(Image.open(ann))).long()
            imgs.append(F.interpolate(img[None].float(), size=size, mode='bilinear')[0].round().byte())
            segs.append(F.interpolate(seg[None, None].float(), size=size, mode='nearest')[0].long())
        yield imgs, segs


def cpu_ms(fn):
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=48)
    p.add_argument('--interval', type=int, default=8)
    p.add_argument('--json', default=None)
    a = p.parse_args(argv)
    import torch
    from mmengine.registry import MODELS
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    import mmcrosskd  # noqa: F401
    from benchmarks.speed import SUITES, student_cfg
    from mmcrosskd.losses import SpectralTailLoss
    torch.set_num_threads(1)
    torch.manual_seed(0)
    suite = SUITES['seg']
    student = MODELS.build(student_cfg(suite)).train()
    feats = {}
    student.backbone.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__('z', o))
    optim = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    opts = dict(energy=0.9, normalized=True)
    kept, exact = SpectralTailLoss(refresh_interval=a.interval, **opts).train(), SpectralTailLoss(**opts)
    rows = []
    for step, (imgs, segs) in enumerate(scene_batches(suite['batch'], suite['size'], a.steps)):
        samples = []
        for seg in segs:
            s = SegDataSample(gt_sem_seg=PixelData(data=seg))
            s.set_metainfo(dict(img_shape=suite['size'], ori_shape=suite['size'], pad_shape=suite['size']))
            samples.append(s)
        data = student.data_preprocessor(dict(inputs=imgs, data_samples=samples), True)
        losses = student(**data, mode='loss')
        z = feats['z']
        # the cost of each form on this feature, measured on detached copies (same input, same work)
        probe = z.detach().clone().requires_grad_()
        refresh = step % a.interval == 0
        kept_ms = cpu_ms(lambda: kept(probe).backward())  # advances the kept loss like a training step
        exact_ms = cpu_ms(lambda: exact(z.detach().clone().requires_grad_()).backward())
        kept.calls -= 1  # the training step below is the same call again
        value = kept(z)
        with torch.no_grad():
            reference = exact(z)
        total = sum(v.mean() for k, v in losses.items() if 'loss' in k) + 0.01 * value
        optim.zero_grad()
        total.backward()
        optim.step()
        rows.append(dict(step=step, refresh=refresh, kept=value.item(), exact=reference.item(),
                         ratio=value.item() / reference.item(), kept_ms=kept_ms, exact_ms=exact_ms))
        print(f"step {step:3d} {'refresh' if refresh else 'kept   '} kept {value.item():.5f} exact "
              f"{reference.item():.5f} ratio {rows[-1]['ratio']:.4f}  {kept_ms:6.1f} ms vs {exact_ms:6.1f} ms",
              flush=True)
    reused = [r for r in rows if not r['refresh']]
    summary = dict(
        steps=a.steps, interval=a.interval, feature=f"{tuple(feats['z'].shape)}",
        ratio_max=max(r['ratio'] for r in reused), ratio_median=statistics.median(r['ratio'] for r in reused),
        kept_ms_median=statistics.median(r['kept_ms'] for r in rows),
        exact_ms_median=statistics.median(r['exact_ms'] for r in rows))
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(dict(summary=summary, rows=rows), f, indent=1)
    return summary


if __name__ == '__main__':
    main()
