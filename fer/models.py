"""Expression models behind one registry: `create_model(name, num_classes=3, weights=None)`.

All are plain `nn.Module`s built from torchvision backbones with `weights=None`: nothing is ever downloaded.
`weights=PATH` loads a local state dict (a checkpoint of this project or a torchvision-style file).

- `resmasking`: ResMaskingNet (Pham et al. 2020). ResNet34 whose four stages are each followed by a masking
  block, a small U-Net whose soft map m re-weights the features as x * (1 + m); depth 4 after the first stage
  down to 1 after the last. Head: dropout 0.4, then a linear layer.
- `cbam_resnet50`: ResNet50 with CBAM (Woo et al. 2018) in every bottleneck: channel then spatial attention
  on the residual branch before the addition. Adaptive pooling, so any input size works.
- `vgg19`: VGG19 with batch norm, global average pooling and a linear head (the FER variant of VGG19; the
  ImageNet 4096-unit head would not fit small inputs).
- `mobilenet_v2`: torchvision's MobileNetV2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(builder: Callable[..., nn.Module]):
        _REGISTRY[name] = builder
        return builder

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int = 3, weights: str | Path | None = None) -> nn.Module:
    """Build a registered model; `weights` loads a local state dict (strictly: shapes must match)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    model = _REGISTRY[name](num_classes=num_classes)
    if weights is not None:
        load_weights(model, weights, name)
    return model


def load_weights(model: nn.Module, path: str | Path, name: str = "") -> None:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model_state" in state:
        if name and state.get("model_name") not in (None, name):
            raise ValueError(f"{path} holds a {state['model_name']!r} checkpoint, not {name!r}")
        state = state["model_state"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path} does not fit model {name or type(model).__name__}: {str(exc)[:400]}") from exc


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- ResMaskingNet ------------------------------------------------------------------------------------------

def _conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False), nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class MaskingBlock(nn.Module):
    """A U-Net over a stage's features whose sigmoid output m re-weights them: x * (1 + m)."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.down = nn.ModuleList(_conv_block(channels, channels) for _ in range(depth))
        self.bottom = _conv_block(channels, channels)
        self.up = nn.ModuleList(_conv_block(2 * channels, channels) for _ in range(depth))
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        y = x
        for level in self.down:
            y = level(y)
            skips.append(y)
            y = nn.functional.max_pool2d(y, 2, ceil_mode=True)
        y = self.bottom(y)
        for level, skip in zip(self.up, reversed(skips)):
            y = nn.functional.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = level(torch.cat([y, skip], dim=1))
        mask = torch.sigmoid(self.out(y))
        return x * (1.0 + mask)


class ResMaskingNet(nn.Module):
    def __init__(self, num_classes: int = 3, dropout: float = 0.4) -> None:
        super().__init__()
        backbone = tvm.resnet34(weights=None)
        self.stem = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool)
        self.stages = nn.ModuleList([backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4])
        self.masks = nn.ModuleList(MaskingBlock(c, d) for c, d in ((64, 4), (128, 3), (256, 2), (512, 1)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(512, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage, mask in zip(self.stages, self.masks):
            x = mask(stage(x))
        return self.head(self.pool(x))


@register("resmasking")
def resmasking(num_classes: int = 3) -> nn.Module:
    return ResMaskingNet(num_classes)


# --- CBAM-ResNet50 -----------------------------------------------------------------------------------------

class CBAM(nn.Module):
    """Channel attention (shared MLP over average- and max-pooled features), then spatial attention."""

    def __init__(self, channels: int, reduction: int = 16, kernel: int = 7) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(channels // reduction, channels, 1))
        self.spatial = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel = torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True)))
        x = x * channel
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAMBottleneck(nn.Module):
    """torchvision's Bottleneck with CBAM on the residual branch, before the addition."""

    def __init__(self, block: tvm.resnet.Bottleneck) -> None:
        super().__init__()
        self.block = block
        self.cbam = CBAM(block.bn3.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.block
        identity = x if b.downsample is None else b.downsample(x)
        out = b.relu(b.bn1(b.conv1(x)))
        out = b.relu(b.bn2(b.conv2(out)))
        out = self.cbam(b.bn3(b.conv3(out)))
        return b.relu(out + identity)


@register("cbam_resnet50")
def cbam_resnet50(num_classes: int = 3) -> nn.Module:
    model = tvm.resnet50(weights=None, num_classes=num_classes)
    for name in ("layer1", "layer2", "layer3", "layer4"):
        layer = getattr(model, name)
        setattr(model, name, nn.Sequential(*(CBAMBottleneck(block) for block in layer)))
    return model  # torchvision's avgpool is already adaptive: any input size works


# --- baselines ---------------------------------------------------------------------------------------------

@register("vgg19")
def vgg19(num_classes: int = 3) -> nn.Module:
    model = tvm.vgg19_bn(weights=None)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(512, num_classes))
    return model


@register("mobilenet_v2")
def mobilenet_v2(num_classes: int = 3) -> nn.Module:
    return tvm.mobilenet_v2(weights=None, num_classes=num_classes)
