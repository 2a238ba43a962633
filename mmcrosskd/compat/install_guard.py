"""``python -m mmcrosskd.compat.install_guard``: add the torchvision guard to this environment.

Writes one ``.pth`` file into the running interpreter's site-packages (see ``torchvision_guard``).
No installed package is modified.
"""
import sysconfig

from .torchvision_guard import write_pth

if __name__ == '__main__':
    print('[install] wrote', write_pth(sysconfig.get_paths()['purelib']))
