"""Each screening score against a value worked out by hand on a tiny input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nasxfer.screening import ARCHITECTURE_SCORES, BACKBONE_SCORES, SCORE_NAMES, create_score
from nasxfer.screening.base import Batch, Features, compute_score
from nasxfer.screening.jacob_cov import jacob_cov_of
from nasxfer.screening.ranking import ensemble, kendall, ranks, spearman, top_precision, weighted_kendall


def batch(x, labels=None, classes=2):
    x = torch.tensor(x, dtype=torch.float32)
    y = torch.tensor(labels if labels is not None else [0] * len(x))
    return Batch(x, y, classes)


def value(name, model, data):
    return compute_score(create_score(name), model, data).value


def test_every_score_is_registered_with_its_kind():
    assert set(SCORE_NAMES) == set(ARCHITECTURE_SCORES) | set(BACKBONE_SCORES)
    for name in SCORE_NAMES:
        score = create_score(name)
        assert score.name == name
        assert score.kind == ("architecture" if name in ARCHITECTURE_SCORES else "backbone")


def test_naswot_is_the_log_determinant_of_the_hamming_kernel():
    # codes [1,0], [1,1], [0,0]: agreements K = [[2,1,1],[1,2,0],[1,0,2]], det 4
    model = nn.Sequential(nn.Flatten(), nn.ReLU())
    assert value("naswot", model, batch([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])) == pytest.approx(math.log(4))


def test_synflow_uses_absolute_weights_and_an_all_ones_input_in_float64():
    model = nn.Sequential(nn.Linear(2, 1, bias=False), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[-1.0, 2.0]]))
        model[1].weight.copy_(torch.tensor([[3.0]]))
    # |w| = [1, 2], [3]; R = 3 * (1 + 2) = 9; |θ ⊙ ∂R/∂θ| = 1*3 + 2*3 + 3*3 = 18
    assert value("synflow", model, batch([[5.0, -7.0]])) == pytest.approx(18.0)
    assert model[0].weight[0, 0].item() == -1.0 and model[0].weight.dtype == torch.float32  # the caller's model is untouched


def test_grad_norm_and_snip_of_a_linear_classifier():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    # uniform softmax, label 0: ∂L/∂W = outer([-0.5, 0.5], [1, 2]); its norm is sqrt(2.5)
    assert value("grad_norm", model, batch([[1.0, 2.0]])) == pytest.approx(math.sqrt(2.5))
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    # logits [1, 2]: 1 - p0 = e / (1 + e); |W ⊙ ∂L/∂W| = (1 - p0) * 1 + (1 - p0) * 2
    assert value("snip", model, batch([[1.0, 2.0]])) == pytest.approx(3 * math.e / (1 + math.e), rel=1e-5)


class Square(nn.Module):
    def forward(self, x):
        return (x * x).sum(dim=1, keepdim=True)


def test_jacob_cov_of_two_images_with_correlation_one_half():
    # Jacobians 2x: [1, 2, 3] and [1, 3, 2], correlation 0.5: eigenvalues 1.5 and 0.5
    k = 1e-5
    expected = -sum(math.log(v + k) + 1 / (v + k) for v in (1.5, 0.5))
    assert value("jacob_cov", Square(), batch([[0.5, 1.0, 1.5], [0.5, 1.5, 1.0]])) == pytest.approx(expected)
    assert jacob_cov_of(torch.tensor([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]])) == pytest.approx(expected)


def test_params_and_flops():
    assert value("params", nn.Linear(3, 2), batch([[1.0, 2.0, 3.0]])) == 8
    # one image: 2 outputs x 3 inputs multiply-accumulates, 2 FLOPs each
    assert value("flops", nn.Linear(3, 2, bias=False), batch([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])) == 12


def features(x, labels, classes=2, source=None):
    return Features(
        torch.tensor(x, dtype=torch.float32).reshape(len(labels), -1),
        torch.tensor(labels),
        classes,
        None if source is None else torch.tensor(source, dtype=torch.float32),
    )


def test_hscore_of_one_feature():
    # f - mean = [-3, -1, 1, 3]: cov 5; class means -2, 2: between-class cov 4; H = 4 / 5
    assert value("hscore", None, features([0.0, 2.0, 4.0, 6.0], [0, 0, 1, 1])) == pytest.approx(0.8)


def test_ledoit_wolf_covariance_matches_its_definition():
    from nasxfer.screening.hscore import ledoit_wolf_covariance

    x = torch.randn(12, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * torch.tensor([4.0, 1, 1, 1, 1], dtype=torch.float64)
    x = x - x.mean(dim=0)
    sample = x.T @ x / 12
    target = torch.trace(sample) / 5 * torch.eye(5, dtype=torch.float64)
    spread = sum(((row[:, None] * row[None, :] - sample) ** 2).sum() for row in x) / 12**2  # one image at a time
    shrinkage = min(1.0, float(spread / ((sample - target) ** 2).sum()))
    assert 0 < shrinkage < 1
    assert torch.allclose(ledoit_wolf_covariance(x), (1 - shrinkage) * sample + shrinkage * target)


def test_hscore_tells_features_apart_when_they_outnumber_the_images():
    # 40 images of 200 features: the sample covariance is singular, and with its pseudo-inverse
    # every feature set scores classes - 1 = 1. The shrinkage estimate keeps them apart (it is
    # no clean measure there either: it also grows with the noise dimensions, see hscore.py).
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 2
    noise = torch.randn(40, 200, generator=generator)
    informative = noise + 1.5 * labels[:, None].float() * (torch.arange(200) < 20).float()
    scores = [value("hscore", None, Features(x, labels, 2, None)) for x in (noise, informative)]
    assert scores[1] - scores[0] > 0.5

    def pseudo_inverse_hscore(x):
        f = (x - x.mean(dim=0)).double()
        g = torch.stack([f[labels == label].mean(dim=0) for label in labels])
        return float(torch.trace(torch.linalg.pinv(f.T @ f, hermitian=True, rtol=1e-10) @ (g.T @ g)))

    assert [pseudo_inverse_hscore(x) for x in (noise, informative)] == [pytest.approx(1.0)] * 2


def test_leep_and_nce():
    # θ = 0.5 everywhere: P(y | z) = 0.5, so every image's expected prediction is 0.5
    uniform = features([0.0, 1.0], [0, 1], source=[[0.5, 0.5], [0.5, 0.5]])
    assert value("leep", None, uniform) == pytest.approx(math.log(0.5))
    # Z = [0, 0, 1, 1], Y = [0, 1, 1, 1]: -H(Y|Z) = 0.25 log 0.5 + 0.25 log 0.5 + 0.5 log 1
    hard = features([0.0] * 4, [0, 1, 1, 1], source=[[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7]])
    assert value("nce", None, hard) == pytest.approx(0.5 * math.log(0.5))
    with pytest.raises(ValueError, match="source classifier"):
        value("nce", None, features([0.0, 1.0], [0, 1]))


def log_evidence(f, y, alpha, beta):
    """log N(y; 0, FFᵀ/α + I/β): the marginal likelihood LogME maximises, written directly."""
    n = f.shape[0]
    cov = f @ f.T / alpha + torch.eye(n, dtype=torch.float64) / beta
    return float(-0.5 * (n * math.log(2 * math.pi) + torch.logdet(cov) + y @ torch.linalg.solve(cov, y)))


def grid_maximum(f, y):
    """The evidence's maximum over (log α, log β): a coarse grid, then a fine one around its best."""
    coarse = [(a, b) for a in range(-16, 17) for b in range(-16, 17)]  # quarter decades, 1e-4 … 1e4
    a0, b0 = max(coarse, key=lambda p: log_evidence(f, y, 10 ** (p[0] / 4), 10 ** (p[1] / 4)))
    fine = [(a0 / 4 + i / 80, b0 / 4 + j / 80) for i in range(-20, 21) for j in range(-20, 21)]
    return max(log_evidence(f, y, 10**a, 10**b) for a, b in fine)


def test_logme_is_the_maximum_evidence_per_sample():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(12, 2, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1] * 6)
    f[labels == 1] += 1.5
    best = sum(grid_maximum(f, (labels == k).double()) / 12 for k in range(2))
    got = value("logme", None, Features(f.float(), labels, 2))
    assert got == pytest.approx(best / 2, abs=0.01)
    assert got >= best / 2 - 1e-3  # the fixed point is at least as good as the grid's best


def test_probes_find_separable_classes_and_repeat_with_the_seed():
    x = [[float(i % 2) * 10 + 0.1 * i, 1.0] for i in range(40)]
    separable = features(x, [i % 2 for i in range(40)])
    assert value("linear_probe", None, separable) == 1.0
    assert value("knn", None, separable) == 1.0
    noise = Features(torch.randn(60, 5), torch.randint(0, 3, (60,)), 3)
    for name in ("linear_probe", "knn"):
        s = create_score(name)
        assert compute_score(s, None, noise, seed=3).value == compute_score(s, None, noise, seed=3).value


def test_rank_statistics_by_hand():
    assert ranks([3.0, 1.0, 2.0]) == [1.0, 3.0, 2.0]
    assert ranks([1.0, 1.0, 0.0]) == [1.5, 1.5, 3.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    # truth ranks (0 best) 2, 0, 1: concordant pairs weigh 4/3 and 5/6, the discordant one 3/2
    assert weighted_kendall([1, 2, 3], [1, 3, 2]) == pytest.approx(2 / 11)
    assert top_precision([5, 4, 3, 2, 1, 0, 0, 0, 0, 0], [0, 9, 8, 0, 0, 0, 0, 0, 0, 0], fraction=0.2) == 0.5
    assert ensemble({"a": [3.0, 2.0, 1.0], "b": [1.0, 3.0, 2.0]}) == [-2.0, -1.5, -2.5]


def test_scores_are_deterministic_given_the_seed():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    data = Batch(torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]), 3)
    for name in ARCHITECTURE_SCORES:
        first = compute_score(create_score(name), model, data, seed=1)
        assert first.seconds >= 0
        assert compute_score(create_score(name), model, data, seed=1).value == pytest.approx(first.value, rel=1e-9)
