"""Models: the from-scratch macro network (``scratch``), pretrained ``backbones`` and heads.

This ``__init__`` (like ``backbone_names``) stays torch-free so the config schema can name
the known ops and backbones without importing torch; the builders live in submodules.
Models know nothing about search or training: a config in, an ``nn.Module`` out.
"""

MBCONV_KERNELS = (3, 5, 7)
MBCONV_EXPANSIONS = (1, 3, 6)

#: Every op a from-scratch layer can be. ``identity`` becomes a strided 1x1 conv + BN where
#: the layer changes resolution or width (as in NAS-Bench-Macro).
SCRATCH_OPS: tuple[str, ...] = (
    "identity",
    "conv3x3",
    "sepconv3x3",
    *(f"mbconv_k{k}_e{e}" for k in MBCONV_KERNELS for e in MBCONV_EXPANSIONS),
)
