"""Config files, overrides and the saved config a run is repeated from."""

from __future__ import annotations

import re
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


def test_every_shipped_config_is_valid():
    for path in CONFIGS.glob("*.toml"):
        C.load([CONFIGS / "default.toml", path])


@pytest.mark.parametrize("override,match", [
    ("phase1.batch=0", "phase1.batch = 0: must be at least 1"),
    ("phase2.views=0", "phase2.views = 0"), ("model.dropout=1.0", "model.dropout = 1.0"),
    ("model.dropout=-0.1", "model.dropout"), ("run.threads=0", "run.threads = 0"),
    ("model.resize=crop", "model.resize = 'crop': must be one of squash, center_crop"),
    ("loss.balance=balanced", "loss.balance"), ("loss.label_smoothing=1.0", "loss.label_smoothing"),
    ("loss.soft_targets=1.5", "loss.soft_targets"), ("loss.dataset_weights={fi=-1}", "dataset_weights"),
    ("phase1.lr=0", "phase1.lr = 0.0: must be above 0"), ("phase2.epochs=-1", "phase2.epochs"),
    # absurd but finite: 1e38 ended in torch's "value cannot be converted to type float" traceback
    ("phase1.lr=1e38", "phase1.lr = 1e+38: must be above 0 and at most 1"),
    ("phase2.lr=2.0", "phase2.lr = 2.0: must be above 0 and at most 1"),
    ("phase2.head_lr=1e38", "phase2.head_lr = 1e+38"), ("phase1.weight_decay=1e38", "phase1.weight_decay"),
    ("loss.other_bias=1e300", "loss.other_bias"), ("loss.weight_power=1e4", "loss.weight_power"),
    ("loss.dataset_weights={fi=1e38}", "dataset_weights"), ("data.wikiart_test_share=1.5", "wikiart_test_share"),
    ("data.train_jpeg_quality=101", "train_jpeg_quality"), ("data.train_jpeg_quality=-5", "train_jpeg"),
    ("run.name='a/b'", "run.name"), ("run.name=''", "run.name"), ('run.name="a\\u0007b"', "run.name"),
])
def test_values_no_run_can_use_are_refused(override, match):
    with pytest.raises(C.ConfigError, match=re.escape(match)):
        C.load(None, [override])


@pytest.mark.parametrize("override,match", [
    ("phase1.lr=inf", "phase1.lr = inf: must be a finite number"),
    ("phase2.head_lr=nan", "phase2.head_lr = nan: must be a finite number"),
    ("phase2.weight_decay=inf", "phase2.weight_decay = inf"),
    ("loss.weight_power=inf", "loss.weight_power = inf: must be a finite number"),
    ("loss.other_bias=nan", "loss.other_bias = nan"), ("loss.other_bias=-inf", "loss.other_bias = -inf"),
    ("loss.dataset_weights={fi=inf}", "loss.dataset_weights = {'fi': inf}: must be a finite number"),
    ("data.wikiart_test_share=nan", "data.wikiart_test_share = nan"),
])
def test_numbers_that_are_not_finite_are_refused(override, match):
    # TOML reads inf and nan as floats; an lr of inf passed "above 0" and trained NaN weights
    with pytest.raises(C.ConfigError, match=re.escape(match)):
        C.load(None, [override])


def test_cli_refusals_leave_no_run_folder(tmp_path, capsys):
    from training.__main__ import main

    (tmp_path / "file").write_text("")
    runs = ["--out-dir", str(tmp_path / "runs")]
    assert main([*runs, "--set", "phase1.batch=0"]) == 2
    assert main(["--out-dir", str(tmp_path / "file")]) == 2
    assert main([*runs, "--set", f"data.cache_dir='{tmp_path / 'file'}'"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "phase1.batch" in err[0] and "phase1.batch" not in "".join(err[1:])   # refused alone
    # the other two are among the problems found before any work (data may be missing here too)
    assert any("run.out_dir" in line and "is a file, not a folder" in line for line in err[1:])
    assert any("data.cache_dir" in line and "is a file, not a folder" in line for line in err[1:])
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("saved,match", [
    ("{not json", "config.json: cannot read the run's config"),
    ("[1, 2]", "config.json: not a run's config"),
    ('{"run": 3}', "config.json: not a run's config"),
    ('{"phase1": {"epochs": "many"}}', "config.json: phase1.epochs: expected int"),
])
def test_a_broken_saved_config_is_one_line_naming_the_file(tmp_path, capsys, saved, match):
    from training.__main__ import main

    (tmp_path / "config.json").write_text(saved)
    assert main(["--from-run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def test_from_run_with_config_is_refused(tmp_path, capsys):
    from training.__main__ import main

    (tmp_path / "config.json").write_text("{}")
    assert main(["--from-run", str(tmp_path), "--config", str(CONFIGS / "dev.toml")]) == 2
    assert "--config cannot be layered" in capsys.readouterr().err


@pytest.mark.parametrize("override,match", [
    ("model.hidden=[1.5]", "model.hidden: expected a list of int, got [1.5]"),
    ("model.hidden=[512, true]", "model.hidden: expected a list of int"),
    ("model.hidden=512", "model.hidden: expected a list of int, got 512"),
    ("data.fi_train_splits=[1]", "data.fi_train_splits: expected a list of str"),
    ("data.labelled='a.csv'", "data.labelled: expected a list, got 'a.csv'"),
])
def test_list_items_are_checked_not_converted(override, match):
    # model.hidden = [1.5] became a 1-unit layer (int(1.5))
    with pytest.raises(C.ConfigError, match=re.escape(match)):
        C.load(None, [override])


def test_an_error_in_a_layered_config_file_names_the_file(tmp_path, capsys):
    from training.__main__ import main

    (tmp_path / "a.toml").write_text("[phase1]\nbatch = 0\n")
    (tmp_path / "b.toml").write_text("[phase1]\nepochs = 3\n[model]\nhidden = [1.5]\n")
    (tmp_path / "c.toml").write_text("[phase1]\nepochz = 3\n")
    with pytest.raises(C.ConfigError, match=re.escape(f"in {tmp_path / 'a.toml'}: phase1.batch = 0: "
                                                      "must be at least 1")):
        C.load([CONFIGS / "default.toml", tmp_path / "a.toml"])
    with pytest.raises(C.ConfigError, match=re.escape(f"in {tmp_path / 'b.toml'}: model.hidden:")):
        C.load([tmp_path / "a.toml", tmp_path / "b.toml"], ["phase1.batch=8"])
    with pytest.raises(C.ConfigError, match=re.escape(f"in {tmp_path / 'c.toml'}: [phase1] unknown")):
        C.load([tmp_path / "c.toml"])
    # a value set again by --set or a flag is not the file's
    with pytest.raises(C.ConfigError, match=r"^phase1\.batch = -1"):
        C.load([tmp_path / "a.toml"], ["phase1.batch=-1"])
    assert main(["--config", str(tmp_path / "a.toml"), "--out-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: in {tmp_path / 'a.toml'}: phase1.batch = 0: must be at least 1\n"


@pytest.mark.parametrize("key,flag", [("run.out_dir", "--out-dir"), ("data.cache_dir", None)])
def test_a_folder_below_a_regular_file_is_a_settings_error(tmp_path, capsys, key, flag):
    # exists() is False for a path through a file: the run failed later, exit 1
    from training.__main__ import main

    (tmp_path / "file").write_text("")
    below = tmp_path / "file" / "runs"
    args = [flag, str(below)] if flag else ["--out-dir", str(tmp_path / "runs"), "--set", f"{key}='{below}'"]
    assert main(args) == 2
    err = capsys.readouterr().err   # the first of the problems found (the data may be missing too)
    assert err.splitlines()[0] == f"error: {key} = '{below}': {tmp_path / 'file'} is a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
