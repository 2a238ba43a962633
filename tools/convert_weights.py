"""Convert a torchvision or timm classifier checkpoint to mmpretrain's key names, once, to a file.

    python tools/convert_weights.py SRC OUT --from torchvision [--config mmpretrain::resnet/resnet50_8xb32_in1k.py]

SRC is a local file, a URL or a ``torchvision://`` name (read through the torch hub cache, as a teacher's
``checkpoint`` is). OUT holds ``{'state_dict': ...}`` for mmpretrain's ``ImageClassifier`` (ResNet,
MobileNetV2, VisionTransformer); with ``--config`` it is first loaded, strictly, into that model. The
same mapping is applied on the fly by a teacher's ``key_map='torchvision'`` (docs/teachers.md).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcrosskd  # noqa: E402,F401  (the torchvision guard, the checkpoint allow-list)
from mmcrosskd.utils.checkpoint import (_extract_state_dict, atomic_torch_save,  # noqa: E402
                                        fit_teacher_state, read_checkpoint_file)
from mmcrosskd.utils.teacher_weights import KEY_MAPS, checkpoint_url, fetch_url  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description="Rename a torchvision/timm classifier's weights to mmpretrain's")
    p.add_argument('src', help='a file, a URL or torchvision://<name>')
    p.add_argument('out', help='the converted checkpoint to write')
    p.add_argument('--from', dest='source', required=True, choices=sorted(KEY_MAPS))
    p.add_argument('--config', help='an mmpretrain config to check the result against (strict keys and shapes)')
    a = p.parse_args(argv)
    url = checkpoint_url(a.src)
    path = fetch_url(url, 'convert') if url and '://' in url else (url or a.src)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path!r}')
    state = KEY_MAPS[a.source](_extract_state_dict(read_checkpoint_file(path, 'convert')))
    if a.config:
        from mmcrosskd.utils.config import build_model_from_spec
        model, _ = build_model_from_spec(a.config)
        fit_teacher_state(model, state, path, 'convert')
    atomic_torch_save({'state_dict': state}, a.out)
    print(f'{len(state)} tensors renamed {a.source} -> mmpretrain, written to {a.out}'
          + (f' (checked against {a.config})' if a.config else ''))
    return a.out


if __name__ == '__main__':
    main()
