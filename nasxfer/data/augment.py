"""Batched, on-device augmentation: random crop with reflect padding and horizontal flip,
an automatic policy (RandAugment, TrivialAugment: torchvision v2 transforms on the uint8
batch) and mixup / cutmix of the normalised batch (labels become class probabilities).

Both are expressed as per-sample row/column index maps and applied with one ``gather``
per axis, so a batch is augmented with a handful of kernels and no Python loop over
samples. Working on indices also means the uint8 images are augmented before they are
converted to float (a quarter of the memory traffic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation. ``crop_padding``: random shifts of up to this many
    pixels, the border filled by reflection (0 = off); ``hflip``: mirror half the images;
    ``policy``: RandAugment or TrivialAugment; ``mixup`` / ``cutmix``: mix image pairs
    (``mix_batch``), the labels then class probabilities."""

    crop_padding: int = 0
    hflip: bool = False
    policy: str = "none"  # none, randaugment or trivialaugment
    mixup: float = 0.0  # Beta(alpha, alpha) mixing of image pairs; 0 = off
    cutmix: float = 0.0  # Beta(alpha, alpha) sized patches pasted between pairs; 0 = off
    num_classes: int = 0  # what mixed labels are spread over

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.hflip or self.policy != "none" or self.mixes

    @property
    def mixes(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0


#: Images per draw of a policy's ops: v2 transforms draw one op set per call, so a batch is
#: cut into chunks of this many images, each with its own ops.
POLICY_CHUNK = 8


def apply_policy(images: torch.Tensor, policy: str, generator: torch.Generator) -> torch.Tensor:
    """``images`` (uint8 ``[B, C, H, W]``, any device) through RandAugment or TrivialAugment
    (torchvision v2, default settings), each chunk of ``POLICY_CHUNK`` images with its own
    ops. The ops are drawn from a seed taken from ``generator``: the result is determined."""
    from torchvision.transforms import v2

    transform = {"randaugment": v2.RandAugment, "trivialaugment": v2.TrivialAugmentWide}[policy]()
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):  # v2 draws its ops from the CPU generator
        torch.manual_seed(seed)
        return torch.cat([transform(chunk) for chunk in images.split(POLICY_CHUNK)])


def mix_batch(x: torch.Tensor, labels: torch.Tensor, augment: Augment, generator: torch.Generator):
    """Mixup (Zhang et al., 2018) or cutmix (Yun et al., 2019) of a float batch with a
    shuffled copy of itself; returns ``(images, class probabilities [B, num_classes])``.
    With both on, each batch is one or the other (even odds)."""
    import torch.nn.functional as F

    rand = lambda *shape: torch.rand(shape, generator=generator, device=generator.device)  # noqa: E731
    use_cutmix = augment.cutmix > 0 and (augment.mixup <= 0 or bool(rand(1) < 0.5))
    alpha = augment.cutmix if use_cutmix else augment.mixup
    beta = torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)))
        lam = float(beta.sample())
    partner = torch.randperm(len(labels), generator=generator, device=generator.device).to(x.device)
    if use_cutmix:
        h, w = x.shape[-2:]
        cut_h, cut_w = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        top = int(rand(1) * (h - cut_h + 1))
        left = int(rand(1) * (w - cut_w + 1))
        x = x.clone()
        x[..., top : top + cut_h, left : left + cut_w] = x[partner][..., top : top + cut_h, left : left + cut_w]
        lam = 1 - cut_h * cut_w / (h * w)  # the share of pixels each image kept
    else:
        x = lam * x + (1 - lam) * x[partner]
    one_hot = F.one_hot(labels, augment.num_classes).float()
    return x, lam * one_hot + (1 - lam) * one_hot[partner]


def augment_batch(images: torch.Tensor, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """``images`` ``[B, C, H, W]`` (any dtype), each sample randomly cropped and/or flipped.

    The crop equals padding every side by ``crop_padding`` (reflect) and cutting an
    ``H x W`` window at a random offset. Random numbers come from ``generator``, on its
    own device, so the result is determined by the generator's seed.
    """
    if augment.policy != "none":
        images = apply_policy(images, augment.policy, generator)
    if augment.crop_padding <= 0 and not augment.hflip:
        return images
    b, c, h, w = images.shape
    rand_device = generator.device
    cols = torch.arange(w, device=rand_device).expand(b, w)
    rows = None
    if augment.crop_padding > 0:
        pad = augment.crop_padding
        shift = torch.randint(-pad, pad + 1, (b, 2, 1), generator=generator, device=rand_device)
        rows = _reflect(torch.arange(h, device=rand_device) + shift[:, 0], h)
        cols = _reflect(cols + shift[:, 1], w)
    if augment.hflip:
        mirror = torch.rand((b, 1), generator=generator, device=rand_device) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
    if rows is not None:
        rows = rows.to(images.device, non_blocking=True)
        images = images.gather(2, rows[:, None, :, None].expand(b, c, h, w))
    cols = cols.to(images.device, non_blocking=True)
    return images.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def _reflect(index: torch.Tensor, length: int) -> torch.Tensor:
    """Fold out-of-range indices back inside ``[0, length)`` like ``F.pad(mode="reflect")``."""
    if length == 1:
        return torch.zeros_like(index)
    last = length - 1
    folded = last - (last - index.abs()).abs()
    return folded.clamp_(0, last)  # shifts beyond one reflection (padding >= size) stick to the edge
