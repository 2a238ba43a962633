"""Knowledge-distillation methods as losses on (student side, teacher side).

Each takes the student feature and the teacher-side feature (projected by the inverted projector,
or the raw teacher feature with a traditional projector on the student side, or none), so each method
carries over to the cross-task setting through the projector, as the paper proposes. Feature maps are
(B, C, H, W); tokens (B, N, C) or vectors (B, C) where the method allows.

``LogitKLLoss`` and ``DISTLoss`` compare *predictions*: they are for a teacher that predicts the same
labels as the student (same task); the distiller refuses them unless the entry says ``same_task=True``.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..registry import MODELS
from .weight import check_loss_weight


def _class_dim_last(x):
    """Logits as (positions, classes): (B, C, H, W) -> (B*H*W, C); (B, N, C) -> (B*N, C); (B, C) stays."""
    if x.dim() == 4:
        return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
    return x.reshape(-1, x.shape[-1])


def _check_same_shape(name, s, t):
    if s.shape != t.shape:
        raise ValueError(f'{name}: shapes differ: student {tuple(s.shape)} vs teacher side {tuple(t.shape)}')


class _KDLoss(nn.Module):
    """Base: ``loss_weight * method(student, target)``; ``same_task_only`` marks logit losses."""

    same_task_only = False

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = check_loss_weight(loss_weight, type(self).__name__)

    def forward(self, student, target):
        _check_same_shape(type(self).__name__, student, target)
        return self.loss_weight * self.compute(student, target)


def attention_map(x, p=2):
    """Spatial attention of Zagoruyko & Komodakis: mean over channels of |x|^p, L2-normalised per sample.
    Maps give (B, H*W), tokens (B, N)."""
    a = x.abs().pow(p).mean(1) if x.dim() == 4 else x.abs().pow(p).mean(-1)
    return F.normalize(a.reshape(a.shape[0], -1), dim=1)


@MODELS.register_module()
class AttentionTransferLoss(_KDLoss):
    """Attention transfer (AT).

    ``mean_{b, j} (a_s[b, j] - a_t[b, j])^2`` with ``a = normalize(mean_c |F_c|^p)`` per sample.
    Source: Zagoruyko & Komodakis, "Paying More Attention to Attention", ICLR 2017.
    Channel counts may differ (no projector needed); maps or tokens.

    Args:
        p (int): the power of the activations. Default 2.
        loss_weight (float): default 1.0.
    """

    def __init__(self, p=2, loss_weight=1.0):
        super().__init__(loss_weight)
        self.p = p

    def forward(self, student, target):
        same_positions = student.shape[2:] == target.shape[2:] if student.dim() == 4 else \
            student.shape[:-1] == target.shape[:-1]
        if student.shape[0] != target.shape[0] or not same_positions:
            raise ValueError(f'AttentionTransferLoss: batch/spatial sizes differ: {tuple(student.shape)} vs '
                             f'{tuple(target.shape)}')
        return self.loss_weight * (attention_map(student, self.p) - attention_map(target, self.p)).pow(2).mean()


@MODELS.register_module()
class SimilarityPreservingLoss(_KDLoss):
    """Similarity-preserving KD (SP).

    ``G = row_normalise(Q Q^T)`` with Q the (B, -1) flattened features; loss ``||G_s - G_t||_F^2 / B^2``.
    Source: Tung & Mori, "Similarity-Preserving Knowledge Distillation", ICCV 2019.
    Only batch similarities are compared: channel counts may differ.
    """

    def forward(self, student, target):
        b = student.shape[0]
        gs = F.normalize(student.reshape(b, -1) @ student.reshape(b, -1).T, dim=1)
        gt = F.normalize(target.reshape(b, -1) @ target.reshape(b, -1).T, dim=1)
        return self.loss_weight * (gs - gt).pow(2).sum() / (b * b)


@MODELS.register_module()
class ChannelWiseDistillLoss(_KDLoss):
    """Channel-wise distillation (CWD) for dense prediction.

    Each channel's map is turned into a distribution over positions, ``softmax(F_c / tau)``; the loss is
    ``tau^2 / (B * C) * sum_{b, c} KL(p_t[b, c] || p_s[b, c])``.
    Source: Shu et al., "Channel-wise Knowledge Distillation for Dense Prediction", ICCV 2021.

    Args:
        tau (float): temperature. Default 1.0 (the paper uses 1 for logits, 4 for features).
        loss_weight (float): default 1.0.
    """

    def __init__(self, tau=1.0, loss_weight=1.0):
        super().__init__(loss_weight)
        self.tau = tau

    def compute(self, student, target):
        if student.dim() != 4:
            raise ValueError('ChannelWiseDistillLoss is for feature maps (B, C, H, W)')
        b, c = student.shape[:2]
        log_s = F.log_softmax(student.reshape(b * c, -1) / self.tau, dim=1)
        log_t = F.log_softmax(target.reshape(b * c, -1) / self.tau, dim=1)
        return (log_t.exp() * (log_t - log_s)).sum() * self.tau ** 2 / (b * c)


def _pooled(x, pool):
    if pool and x.dim() == 4:
        return x.mean((2, 3))
    if pool and x.dim() == 3:
        return x.mean(1)
    return x.reshape(x.shape[0], -1)


@MODELS.register_module()
class RelationalKDLoss(_KDLoss):
    """Relational KD (RKD): distance and angle relations between the samples of a batch.

    Distance: ``psi(i, j) = ||e_i - e_j|| / mu`` (mu: mean over pairs i != j); angle:
    ``<normalize(e_i - e_j), normalize(e_k - e_j)>`` over all triplets; each matched with smooth L1
    (beta 1). Loss ``distance_weight * L_D + angle_weight * L_A``.
    Source: Park et al., "Relational Knowledge Distillation", CVPR 2019.

    Args:
        distance_weight (float): default 1.0 (the paper: 25).
        angle_weight (float): default 2.0 (the paper: 50).
        pool (bool): embed each sample by global average pooling (True, default) or by flattening.
        loss_weight (float): default 1.0.
    """

    def __init__(self, distance_weight=1.0, angle_weight=2.0, pool=True, loss_weight=1.0):
        super().__init__(loss_weight)
        self.distance_weight, self.angle_weight, self.pool = distance_weight, angle_weight, pool

    @staticmethod
    def distances(e):
        d = torch.cdist(e, e)
        off = ~torch.eye(len(e), dtype=torch.bool, device=e.device)
        return d / d[off].mean().clamp_min(1e-12)

    @staticmethod
    def angles(e):
        diff = F.normalize(e.unsqueeze(0) - e.unsqueeze(1), dim=2)  # diff[j, i] = normalize(e_i - e_j)
        return torch.bmm(diff, diff.transpose(1, 2)).reshape(-1)  # [j, i, k] = <e_ij, e_kj>

    def forward(self, student, target):
        es, et = _pooled(student, self.pool), _pooled(target, self.pool)
        if es.shape[0] != et.shape[0]:
            raise ValueError('RelationalKDLoss: batch sizes differ')
        loss = student.new_zeros(())
        if self.distance_weight:
            loss = loss + self.distance_weight * F.smooth_l1_loss(self.distances(es), self.distances(et))
        if self.angle_weight:
            loss = loss + self.angle_weight * F.smooth_l1_loss(self.angles(es), self.angles(et))
        return self.loss_weight * loss


@MODELS.register_module()
class PKTLoss(_KDLoss):
    """Probabilistic knowledge transfer (PKT).

    Samples' embeddings are L2-normalised; cosine kernels ``K = (E E^T + 1) / 2`` are turned into
    conditional distributions by row normalisation; the loss is
    ``mean_i sum_j p_t(j|i) log(p_t(j|i) / p_s(j|i))``.
    Source: Passalis & Tefas, "Learning Deep Representations with Probabilistic Knowledge Transfer",
    ECCV 2018.

    Args:
        pool (bool): embed each sample by global average pooling (True, default) or by flattening.
        eps (float): added inside the logarithm. Default 1e-7.
        loss_weight (float): default 1.0.
    """

    def __init__(self, pool=True, eps=1e-7, loss_weight=1.0):
        super().__init__(loss_weight)
        self.pool, self.eps = pool, eps

    def _conditional(self, e):
        e = F.normalize(e, dim=1)
        k = (e @ e.T + 1) / 2
        return k / k.sum(1, keepdim=True)

    def forward(self, student, target):
        ps = self._conditional(_pooled(student, self.pool))
        pt = self._conditional(_pooled(target, self.pool))
        return self.loss_weight * (pt * torch.log((pt + self.eps) / (ps + self.eps))).sum(1).mean()


@MODELS.register_module()
class LogitKLLoss(_KDLoss):
    """Logit distillation: ``tau^2 * KL(softmax(z_t / tau) || softmax(z_s / tau))``, averaged over samples
    (and positions, for dense logits (B, K, H, W)).
    Source: Hinton et al., "Distilling the Knowledge in a Neural Network", 2015.
    Same task only: teacher and student must predict the same K labels.

    Args:
        tau (float): temperature. Default 4.0.
        loss_weight (float): default 1.0.
    """

    same_task_only = True

    def __init__(self, tau=4.0, loss_weight=1.0):
        super().__init__(loss_weight)
        self.tau = tau

    def compute(self, student, target):
        log_s = F.log_softmax(_class_dim_last(student) / self.tau, dim=1)
        log_t = F.log_softmax(_class_dim_last(target) / self.tau, dim=1)
        return (log_t.exp() * (log_t - log_s)).sum(1).mean() * self.tau ** 2


def _pearson_distance(a, b, dim):
    a = a - a.mean(dim, keepdim=True)
    b = b - b.mean(dim, keepdim=True)
    return 1 - F.cosine_similarity(a, b, dim=dim, eps=1e-8)


@MODELS.register_module()
class DISTLoss(_KDLoss):
    """DIST: match the *relations* of the predictions instead of their values.

    With ``P = softmax(z / tau)`` as (samples, classes): inter-class relation
    ``mean_i [1 - pearson(P_s[i, :], P_t[i, :])]``, intra-class relation
    ``mean_k [1 - pearson(P_s[:, k], P_t[:, k])]``; loss ``tau^2 (beta * inter + gamma * intra)``.
    Dense logits: every position is a sample.
    Source: Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022.
    Same task only.

    Args:
        beta (float): inter-class weight. Default 1.0.
        gamma (float): intra-class weight. Default 1.0.
        tau (float): temperature. Default 1.0.
        loss_weight (float): default 1.0.
    """

    same_task_only = True

    def __init__(self, beta=1.0, gamma=1.0, tau=1.0, loss_weight=1.0):
        super().__init__(loss_weight)
        self.beta, self.gamma, self.tau = beta, gamma, tau

    def compute(self, student, target):
        ps = F.softmax(_class_dim_last(student) / self.tau, dim=1)
        pt = F.softmax(_class_dim_last(target) / self.tau, dim=1)
        inter = _pearson_distance(ps, pt, dim=1).mean()
        intra = _pearson_distance(ps, pt, dim=0).mean()
        return self.tau ** 2 * (self.beta * inter + self.gamma * intra)
