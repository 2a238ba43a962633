"""A memory of a frozen teacher's features, keyed by the exact bytes of each input image.

A frozen teacher in eval mode is a fixed function of its input, so on a dataset that is seen many times
(epochs) with few random variants per image (a flip) most of its forwards recompute features it already
computed. Keying by the content of each preprocessed sample, not by its file name, makes the cache safe
under any augmentation: an input that differs by one bit is a miss and is computed. Only the teacher's
work is saved; the student, its data order and its random numbers are untouched.
"""
import hashlib
import warnings

import torch


def sample_key(sample):
    """A digest of one sample's exact content (shape, dtype and bytes).

    Args:
        sample (Tensor): one preprocessed input, e.g. (3, H, W).

    Returns:
        bytes: a 16-byte blake2b digest.
    """
    t = sample.detach()
    if t.device.type != 'cpu':
        t = t.cpu()
    t = t.contiguous()
    h = hashlib.blake2b(digest_size=16)
    h.update(f'{tuple(t.shape)}{t.dtype}'.encode())
    h.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()


class FeatureCache:
    """Per-sample teacher features of inputs already seen, up to a memory budget.

    Args:
        max_mb (float): memory budget of the stored features in MiB. Once reached, new samples are
            computed every time (and a warning says so once); samples already stored stay.
        owner (str): a name for messages, e.g. ``"teacher 'cls'"``.
    """

    def __init__(self, max_mb, owner='teacher'):
        if not isinstance(max_mb, (int, float)) or isinstance(max_mb, bool) or max_mb <= 0:
            raise ValueError(f'{owner}: cache_mb must be a positive number of MiB, got {max_mb!r}')
        self.max_bytes = int(max_mb * 2**20)
        self.owner = owner
        self.nbytes = 0
        self.hits = self.misses = 0
        self._store = {}
        self._full_warned = False

    def __len__(self):
        return len(self._store)

    def clear(self):
        """Forget every stored feature (e.g. after the teacher moved to another device)."""
        self._store.clear()
        self.nbytes = 0

    def features(self, inputs, compute):
        """The features of a batch, computing only the samples not stored yet.

        Args:
            inputs (Tensor): the batch (B, ...), in the form the key is taken from.
            compute (callable): ``compute(inputs_subset) -> list[Tensor]``, each (b, ...) with the
                subset's batch size b first.

        Returns:
            list[Tensor]: one (B, ...) tensor per feature, in ``compute``'s order.
        """
        host = inputs.detach().cpu()  # one copy of the batch, not one per sample (a no-op on the CPU)
        keys = [sample_key(x) for x in host]
        # The first position of each key not stored yet (a batch may hold the same image twice), in order.
        todo = {}
        for i, k in enumerate(keys):
            if k not in self._store:
                todo.setdefault(k, i)
        fresh = {}
        if todo:
            positions = list(todo.values())
            computed = compute(inputs[positions] if len(positions) < len(keys) else inputs)
            self._check(computed, len(positions))
            for j, k in enumerate(todo):
                fresh[k] = [f[j].clone() for f in computed]  # clone: do not keep the whole batch alive
                self._remember(k, fresh[k])
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        rows = [fresh[k] if k in fresh else self._store[k] for k in keys]
        return [torch.stack([row[n] for row in rows]) for n in range(len(rows[0]))]

    def _check(self, computed, batch):
        for n, f in enumerate(computed):
            if not torch.is_tensor(f) or f.dim() == 0 or f.shape[0] != batch:
                shape = tuple(f.shape) if torch.is_tensor(f) else type(f).__name__
                raise ValueError(f'{self.owner}: cache_mb stores features per sample, but tap {n} gave {shape} for '
                                 f'a batch of {batch}: its first dimension is not the batch. Drop cache_mb for '
                                 'this teacher')

    def _remember(self, key, entry):
        size = sum(f.numel() * f.element_size() for f in entry)
        if self.nbytes + size > self.max_bytes:
            if not self._full_warned:
                self._full_warned = True
                warnings.warn(f'{self.owner}: feature cache full ({len(self._store)} samples, '
                              f'{self.nbytes / 2**20:.1f} MiB of cache_mb={self.max_bytes / 2**20:g}); samples not '
                              'stored are computed at every step. Raise cache_mb to store them all')
            return
        self._store[key] = entry
        self.nbytes += size
