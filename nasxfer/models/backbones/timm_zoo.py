"""``timm:<name>`` backbones, when timm is installed (``pip install 'nasxfer[timm]'``).

timm already follows the protocol nasxfer needs: ``create_model(name, num_classes=0)``
drops the classifier, ``forward_features`` gives the unpooled features, ``num_features``
their width, ``feature_info`` the modules where resolution changes (our stages), and the
pretrained config the preprocessing. Token models (ViT) give ``[N, L, D]``; their own
``forward_head(pre_logits=True)`` pools those into a vector.
"""

from __future__ import annotations

from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import TIMM_PREFIX, weights_kind
from nasxfer.models.backbone_sources import import_timm
from nasxfer.models.backbones.base import Backbone, InputSpec, split_into_stages
from nasxfer.models.backbones.checkpoint_file import load_into, read_state_dict

def _timm_map(body, x):
    features = body.forward_features(x)
    if features.dim() == 3:  # tokens: let the model pick its class token / average
        return body.forward_head(features, pre_logits=True)
    return features


def build(cfg, pretrained: bool = True) -> Backbone:
    timm = import_timm()
    name = cfg.name[len(TIMM_PREFIX) :]
    if not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" (did you mean {', '.join('timm:' + c for c in close)}?)" if close else " (see timm.list_models())"
        raise ConfigError(f"model.backbone.name: timm has no model {name!r}{hint}")
    kind = weights_kind(cfg.weights)
    if pretrained and kind == "tag" and cfg.weights != "DEFAULT":
        raise ConfigError(
            f"model.backbone.weights: for timm give DEFAULT (timm's pretrained tag goes in the name, "
            f"timm:{name}.<tag>), none or a checkpoint file path"
        )
    try:
        body = timm.create_model(name, pretrained=pretrained and kind == "tag", num_classes=0)
    except (OSError, RuntimeError) as exc:  # offline or no such pretrained tag
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise NasxferError(f"model.backbone.weights: could not get timm {name} weights ({reason})") from None
    if pretrained and kind == "file":
        classifier = (getattr(body, "pretrained_cfg", None) or {}).get("classifier", "head")
        load_into(body, read_state_dict(cfg.weights), architecture=cfg.name, classifier=[classifier], origin=f"'{cfg.weights}'")

    data = timm.data.resolve_data_config(model=body)
    channels, height, _ = data["input_size"]
    spec = InputSpec(int(height), tuple(data["mean"]), tuple(data["std"]), int(channels)).overridden(cfg)
    return Backbone(
        body,
        _timm_map,
        _stages(body),
        num_features=body.num_features,
        input_spec=spec,
        description=f"timm:{name}",
    )


def _stages(body) -> list[list[str]]:
    """Stages begin at timm's ``feature_info`` modules; failing that, at each top-level child."""
    boundaries = [info["module"] for info in getattr(body, "feature_info", None) or [] if info.get("module")]
    if boundaries:
        try:
            return split_into_stages(body, boundaries)
        except ValueError:
            pass  # names that are not submodules (some models list flattened names)
    return split_into_stages(body, [name for name, _ in body.named_children()])
