"""Backbone families behind one protocol; nothing downloads (weights none, monkeypatched, or files)."""

from __future__ import annotations

import importlib.util
import urllib.error

import pytest
import torch
from torch import nn
from transfer_helpers import SHARED_WEIGHTS, save_cifar_checkpoint

from nasxfer.config import BackboneConfig, validate_config
from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import TORCHVISION_BACKBONES
from nasxfer.models.backbones import build_backbone
from nasxfer.models.build import build_model

HAS_TIMM = importlib.util.find_spec("timm") is not None


def backbone(**fields):
    return build_backbone(BackboneConfig(**fields))


def covered_parameters(bb) -> set[int]:
    ids = set()
    for index in range(len(bb.stages)):
        for part in bb.stage_parts(index):
            ids |= {id(p) for p in (part.parameters() if isinstance(part, nn.Module) else [part])}
    return ids


def test_every_listed_torchvision_name_exists():
    import torchvision

    assert set(TORCHVISION_BACKBONES) <= set(torchvision.models.list_models(module=torchvision.models))


# One model per family, run on the meta device: shapes without the time of real kernels
# (regnet computes its widths with real tensors, so it is built on the CPU and then moved).
FAMILY_CASES = [
    ("resnet18", 512, "meta"),
    ("regnet_y_400mf", 440, "cpu"),
    ("mobilenet_v2", 1280, "meta"),
    ("mobilenet_v3_small", 576, "meta"),
    ("mnasnet0_5", 1280, "meta"),
    ("shufflenet_v2_x0_5", 1024, "meta"),
    ("densenet121", 1024, "meta"),
    ("efficientnet_b0", 1280, "meta"),
    ("convnext_tiny", 768, "meta"),
    ("swin_t", 768, "meta"),
    ("vit_b_16", 768, "meta"),
]


@pytest.mark.parametrize("name, width, device", FAMILY_CASES)
def test_torchvision_families_follow_the_protocol(name, width, device):
    with torch.device(device):
        bb = backbone(name=name, weights="none")
    size = bb.input.image_size if name.startswith("vit") else 64
    out = bb.to("meta").eval()(torch.zeros(2, 3, size, size, device="meta"))
    assert bb.num_features == width and out.shape[:2] == (2, width) and out.dim() == 4
    # every parameter belongs to exactly one stage, so "unfreeze: all" really is all
    assert covered_parameters(bb) == {id(p) for p in bb.parameters()}
    assert sum(len(list(p.parameters())) if isinstance(p, nn.Module) else 1
               for i in range(len(bb.stages)) for p in bb.stage_parts(i)) == len(list(bb.parameters()))  # fmt: skip
    assert not any(k.startswith(("fc.", "heads.", "head.")) for k in bb.body.state_dict())  # classifier gone
    assert bb.input.mean == (0.485, 0.456, 0.406) and bb.input.channels == 3 and bb.input.image_size == 224


def test_preprocessing_follows_the_named_weights():
    # efficientnet_b3's weights want 300-pixel input; that comes from torchvision's metadata
    spec = backbone(name="mobilenet_v3_small", weights="none").input
    assert spec.image_size == 224
    with torch.device("meta"):
        assert backbone(name="efficientnet_b3", weights="none").input.image_size == 300
        assert backbone(name="efficientnet_b3", weights="none", image_size=64, mean=[0.5], std=[0.25]).input.image_size == 64


@pytest.fixture
def fake_hub(monkeypatch):
    """torchvision's download, replaced: weights come from a dict, and every fetch is counted."""
    from torchvision.models._api import WeightsEnum

    served, fetched = {}, []

    def get_state_dict(self, *args, **kwargs):
        fetched.append(self.name)
        if self.url not in served:
            raise urllib.error.URLError("no network in tests")
        return served[self.url]

    monkeypatch.setattr(WeightsEnum, "get_state_dict", get_state_dict)
    return served, fetched


def test_default_weights_load_as_torchvision_loads_them(fake_hub):
    import torchvision

    served, fetched = fake_hub
    torch.manual_seed(1)
    reference = torchvision.models.mobilenet_v3_small()
    weights = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT
    served[weights.url] = reference.state_dict()
    bb = backbone(name="mobilenet_v3_small")  # weights: DEFAULT
    assert fetched == ["IMAGENET1K_V1"]
    assert torch.equal(bb.body.features[0][0].weight, reference.features[0][0].weight)
    assert bb.input.image_size == weights.transforms().crop_size[0]


def test_unknown_weights_name_lists_the_choices():
    with pytest.raises(ConfigError, match=r"resnet50 has no weights 'IMAGENET1K_V9' \(choices: DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2, none"):
        backbone(name="resnet50", weights="IMAGENET1K_V9")


def test_offline_download_is_one_line_naming_the_hub_cache(fake_hub):
    with pytest.raises(NasxferError) as info:
        backbone(name="mobilenet_v3_small", weights="IMAGENET1K_V1")
    message = str(info.value)
    assert "\n" not in message and "torch hub cache" in message and "checkpoints" in message


def test_checkpoint_file_into_a_torchvision_architecture(tmp_path):
    import torchvision

    torch.manual_seed(2)
    source = torchvision.models.resnet18(num_classes=37)  # another task's class count
    path = tmp_path / "resnet18.pth"
    torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    bb = backbone(name="resnet18", weights=str(path))
    assert torch.equal(bb.body.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert torch.equal(bb.body.bn1.running_var, source.bn1.running_var)
    assert isinstance(bb.body.fc, nn.Identity)  # the 37-class classifier was dropped, not loaded


def test_a_checkpoint_of_another_architecture_is_one_clear_line(tmp_path):
    import torchvision

    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(ConfigError) as info:
        backbone(name="resnet18", weights=str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"model.backbone.weights: '{path}' does not fit resnet18:")
    assert "unexpected keys (layer1.2." in message  # resnet34 has 3 blocks in layer1, resnet18 2


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        (b"not a checkpoint", "is not a checkpoint that loads with weights_only=True"),
        ({"epoch": 3}, "holds no state dict"),
    ],
)
def test_unusable_checkpoint_files(tmp_path, content, message):
    path = tmp_path / "w.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ConfigError, match=message):
        backbone(name="resnet20", weights=str(path))


def test_cifar_resnet_state_dict_names_and_loading(tmp_path):
    path = tmp_path / "resnet20.th"
    state = save_cifar_checkpoint(path)
    from nasxfer.models.backbones.cifar_resnet import CifarResNet

    names = set(CifarResNet(20).state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer3.2.bn2.bias", "linear.weight"} <= names
    assert not any("shortcut" in n for n in names)  # option A: shortcuts have no parameters
    bb = backbone(name="resnet20", weights=str(path))
    for key, value in bb.body.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert bb.num_features == 64 and bb.input.image_size == 32
    assert bb(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 8, 8)
    assert [s[0] for s in bb.stages] == ["conv1", "layer1", "layer2", "layer3"]


def test_cifar_resnet_has_no_downloadable_weights():
    with pytest.raises(ConfigError, match="resnet56 has no downloadable weights .* give a checkpoint file path"):
        backbone(name="resnet56")


@pytest.mark.skipif(not (SHARED_WEIGHTS / "resnet20-cifar10.th").exists(), reason="needs ../shared/data/weights")
@pytest.mark.parametrize("depth", [20, 56])
def test_shared_cifar_weights_load_with_no_missing_key(depth):
    from nasxfer.models.backbones.checkpoint_file import read_state_dict

    path = SHARED_WEIGHTS / f"resnet{depth}-cifar10.th"
    state = read_state_dict(path)
    bb = backbone(name=f"resnet{depth}", weights=str(path))  # raises on any missing key
    loaded = {k: v for k, v in bb.body.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(loaded) == {k for k in state if not k.startswith("linear.")}
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)


def test_factory_backbones(tmp_path):
    import factory_backbones

    bb = backbone(factory="factory_backbones:tiny_cnn", image_size=16, weights="none")
    assert factory_backbones.tiny_cnn.calls[-1] is False  # weights none reaches the factory
    assert bb.num_features == 12 and bb.input.image_size == 16 and len(bb.stages) == 2
    assert bb.body[0][1].num_batches_tracked.item() == 0  # the probe batch did not train BN
    assert bb(torch.zeros(1, 3, 16, 16)).shape == (1, 12, 8, 8)

    vector = backbone(factory="factory_backbones:vector_with_size")
    assert vector.num_features == 6 and vector(torch.zeros(1, 3, 9, 9)).shape == (1, 6, 1, 1)

    path = tmp_path / "tiny.pth"
    torch.save(factory_backbones.tiny_cnn().state_dict(), path)
    loaded = backbone(factory="factory_backbones:tiny_cnn", weights=str(path))
    assert torch.equal(loaded.body[0][0].weight, torch.load(path)["0.0.weight"])


@pytest.mark.parametrize(
    "spec, message",
    [
        ("factory_backbones:not_a_module", "returned int; return an nn.Module"),
        ("factory_backbones:broken", "raised RuntimeError: no weights here"),
        ("factory_backbones:missing", "'factory_backbones' has no 'missing'"),
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
    ],
)
def test_factory_errors(spec, message):
    with pytest.raises(NasxferError, match=message):
        backbone(factory=spec)


@pytest.mark.skipif(HAS_TIMM, reason="timm is installed: the missing-timm error cannot happen")
def test_timm_without_timm_says_how_to_install():
    with pytest.raises(ConfigError) as info:
        backbone(name="timm:resnet18", weights="none")
    assert str(info.value) == (
        "model.backbone.name: timm backbones need timm, which is not installed (pip install timm)"
    )


@pytest.mark.skipif(not HAS_TIMM, reason="timm not installed")
def test_timm_backbone():
    bb = backbone(name="timm:resnet18", weights="none", image_size=64)
    out = bb(torch.zeros(1, 3, 64, 64))
    assert out.shape[1] == bb.num_features == 512
    assert covered_parameters(bb) == {id(p) for p in bb.parameters()}


def test_transfer_model_rebuilds_offline_from_its_file(fake_hub, tmp_path):
    """A model file holds the pretrained weights, so rebuilding never downloads."""
    import torchvision

    from nasxfer.storage.model_files import model_payload, rebuild_model
    from nasxfer.data.loader import Preprocess

    served, fetched = fake_hub
    served[torchvision.models.ResNet18_Weights.DEFAULT.url] = torchvision.models.resnet18().state_dict()
    cfg = validate_config({"model": {"backbone": {"name": "resnet18", "image_size": 32}, "head": {"hidden": [8]}}})
    network = build_model(cfg.model, 3, 4).eval()
    data = type("Data", (), {"class_names": ["a", "b", "c", "d"], "channels": 3, "image_size": (32, 32)})()
    payload = model_payload(network, cfg, {}, data, Preprocess((0.5,), (0.5,), (32, 32), 3))
    served.clear()  # the network is gone now
    rebuilt = rebuild_model(payload)
    assert fetched == ["IMAGENET1K_V1"]  # only the original build fetched
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(rebuilt(x), network(x))
