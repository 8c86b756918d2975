"""Config files, overrides and the saved config a run is repeated from."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from training import config as C

CONFIGS = Path(__file__).parents[1] / "training" / "configs"


def test_default_config_loads_and_overrides(tmp_path):
    cfg = C.load(CONFIGS / "default.toml", ["phase2.epochs=1", "data.fi_train_splits=['train','val']",
                                            "run.name=quick"])
    assert cfg.phase2.epochs == 1 and cfg.run.name == "quick"
    assert cfg.data.fi_train_splits == ("train", "val")
    assert cfg.model.hidden == (512, 128)
    assert C.from_dict(cfg.as_dict()) == cfg


def test_layers_later_wins():
    cfg = C.load([CONFIGS / "default.toml", CONFIGS / "dev.toml"])
    assert cfg.data.emotion6_train_splits == ("train",)
    assert cfg.phase1.epochs == C.load(CONFIGS / "default.toml").phase1.epochs


@pytest.mark.parametrize("override,match", [
    ("phase1.epochz=3", "epochz"), ("nosuch.key=1", "nosuch"), ("phase1.epochs=many", "phase1.epochs"),
    ("noequals", "section.key=value"),
])
def test_bad_overrides(override, match):
    with pytest.raises(C.ConfigError, match=match):
        C.load(None, [override])


def test_paths_are_relative_to_the_repository():
    cfg = C.load(CONFIGS / "default.toml")
    assert cfg.path("training/splits/emotion6.csv").exists()
    assert cfg.data_path("fi") == C.REPO_ROOT / "../shared/data" / "fi"
