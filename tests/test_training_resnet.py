"""The paper's backbone: ResNet50 + the paper's head, without ImageNet weights here."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

import torch

from training import backbones
from training.model import EmotionNet, ExportForward, Head


def test_refuses_random_weights_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(backbones.BackboneError, match="--no-pretrained"):
        backbones.build("resnet50")
    with pytest.raises(backbones.BackboneError, match="not found"):
        backbones.build("resnet50", weights=tmp_path / "missing.pth")


def test_no_pretrained_forward_and_cam_weights_on_tiny_input():
    torch.manual_seed(0)
    bb = backbones.build("resnet50", pretrained=False)
    assert bb.spec.channels == 2048 and not bb.spec.fixed_size
    net = EmotionNet(bb, Head(2048)).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits, features, cam = ExportForward(net)(x)
        # a split run (cached prefix, then the rest) gives the same logits
        assert torch.allclose(net(bb(x, 0, 4), start=4), logits, atol=1e-5)
    assert logits.shape == (2, 3) and features.shape == (2, 2048, 2, 2) and cam.shape == (2, 3, 2048)
    pooled = features.mean(dim=(2, 3))
    jac = torch.autograd.functional.jacobian(lambda p: net.head(p[None])[0], pooled[0])
    assert torch.allclose(cam[0], jac, atol=1e-6)


def test_weights_file(tmp_path):
    from torchvision.models import resnet50

    torch.manual_seed(1)
    state = resnet50(weights=None).state_dict()
    torch.save(state, tmp_path / "r50.pth")
    bb = backbones.build("resnet50", weights=tmp_path / "r50.pth")
    assert torch.equal(bb.stages[0][0].weight, state["conv1.weight"])
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(backbones.BackboneError, match="not ResNet50"):
        backbones.build("resnet50", weights=tmp_path / "other.pth")


def test_weights_of_another_architecture_or_a_broken_file_are_one_clear_error(tmp_path, monkeypatch):
    from torchvision.models import resnet18, resnet50

    torch.save(resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(backbones.BackboneError, match=r"r18\.pth: not ResNet50 weights \(size mismatch"):
        backbones.build("resnet50", weights=tmp_path / "r18.pth")
    whole = tmp_path / "whole.pth"
    torch.save(resnet50(weights=None).state_dict(), whole)
    (tmp_path / "cut.pth").write_bytes(whole.read_bytes()[:100_000])  # a download cut short
    with pytest.raises(backbones.BackboneError, match=r"cut\.pth: cannot read it as a state dict"):
        backbones.build("resnet50", weights=tmp_path / "cut.pth")
    # from torchvision's cache, the error names the file it found there
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / "resnet50-11ad3fa6.pth").write_bytes((tmp_path / "r18.pth").read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(backbones.BackboneError, match=r"resnet50-11ad3fa6\.pth: not ResNet50 weights"):
        backbones.build("resnet50")
