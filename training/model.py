"""The paper's head on a backbone, and the forward pass that the ONNX export runs."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .backbones import Backbone


class Head(nn.Module):
    """Normalisation, then Linear 512 -> ReLU -> Dropout -> Linear 128 -> ReLU -> Dropout -> Linear K."""

    def __init__(self, channels: int, classes: int = 3, hidden: Sequence[int] = (512, 128),
                 dropout: float = 0.5):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)
        sizes = [channels, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(sizes[-1], classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = self.norm(pooled)
        for layer in self.hidden:
            x = self.dropout(torch.relu(layer(x)))
        return self.out(x)

    def logits_and_cam_weights(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and d logits / d pooled, [N, K, C], by the chain rule written out.

        Valid in eval mode only (BatchNorm is then an affine map, dropout the identity). Written
        as matrix products and ReLU masks so that it exports to ONNX and costs next to nothing,
        which spares the runtime a backward pass for Grad-CAM.
        """
        x = self.norm(pooled)
        masks = []
        for layer in self.hidden:
            x = layer(x)
            masks.append((x > 0).to(x.dtype))
            x = torch.relu(x)
        logits = self.out(x)
        grad = self.out.weight.unsqueeze(0).expand(pooled.shape[0], -1, -1)   # [N, K, H_last]
        for layer, mask in zip(reversed(self.hidden), reversed(masks)):
            grad = torch.matmul(grad * mask.unsqueeze(1), layer.weight)
        scale = self.norm.weight / torch.sqrt(self.norm.running_var + self.norm.eps)
        return logits, grad * scale


class EmotionNet(nn.Module):
    """Backbone stages, global average pooling, the paper's head."""

    def __init__(self, backbone: Backbone, head: Head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Logits; `start` > 0 takes the output of stage `start - 1` (a cached tensor) as input."""
        return self.head(self.backbone(x, start).mean(dim=(2, 3)))


class ExportForward(nn.Module):
    """image -> (logits, features, cam_weights): the graph the ONNX file holds."""

    def __init__(self, net: EmotionNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.net.backbone(image)
        logits, cam_weights = self.net.head.logits_and_cam_weights(features.mean(dim=(2, 3)))
        return logits, features, cam_weights
