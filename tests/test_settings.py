"""Settings: defaults < TOML file < EMOWATCH_* environment < flags, validated and frozen."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from emowatch.errors import ConfigError
from emowatch.settings import Settings, load_settings


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_precedence_file_then_environment_then_flags(tmp_path):
    config = write(tmp_path, 'device = "cpu"\nmin_confidence = 0.6\nbatch_size = 4\n[explain]\nsamples = 111\n')
    s = load_settings(config, environ={"EMOWATCH_MIN_CONFIDENCE": "0.7", "EMOWATCH_EXPLAIN_SAMPLES": "222"},
                      overrides={"min_confidence": 0.8, "batch_size": None})
    assert s.device == "cpu"  # file
    assert s.batch_size == 4  # file: a flag that was not given (None) does not override
    assert s.explain.samples == 222  # environment over file
    assert s.min_confidence == 0.8  # flag over everything


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().device = "cpu"


def test_keyword_words_are_configurable(tmp_path):
    config = write(tmp_path, '[keywords]\nparent = "Mood"\nlabels = { positive = "Happy" }\n')
    s = load_settings(config, environ={})
    assert s.keywords.parent == "Mood"
    assert s.keywords.word("positive") == "Happy"
    assert s.keywords.word("negative") == "Negative"


def test_environment_types_are_coerced():
    s = load_settings(None,
                      environ={"EMOWATCH_PRESERVE_MTIME": "yes", "EMOWATCH_THREADS": "2",
                               "EMOWATCH_DAEMON_IGNORE": "*.part, *.tmp", "EMOWATCH_SIDECARS_MODE": "beside"})
    assert s.preserve_mtime is True and s.threads == 2
    assert s.daemon.ignore == ("*.part", "*.tmp")
    assert s.sidecars.mode == "beside"
    words = load_settings(None, environ={"EMOWATCH_KEYWORDS_LABELS": "positive=Happy, negative=Sad"})
    assert words.keywords.labels == {"positive": "Happy", "negative": "Sad"}


@pytest.mark.parametrize("text,match", [
    ('device = "tpu"\n', "device"),
    ("min_confidence = 2\n", "min_confidence"),
    ('colour = "blue"\n', "unknown setting colour"),
    ("[explain]\nsamples = 'many'\n", "explain.samples"),
    ('[sidecars]\nmode = "central"\n', "sidecars.dir"),
    ("this is = not toml = at all\n", "cannot read config"),
    ("explain = 5\n", r"\[explain\] must be a table"),
    ('[keywords]\nlabels = ["a", "b"]\n', "keywords.labels: cannot use"),
    ("[explain]\nseed = -1\n", "explain.seed must be between 0 and"),
    ("[explain]\nseed = 4294967296\n", "explain.seed must be between 0 and"),
    # were taken quietly: 1.5 as 1, a table as the keyword "{'x': 1}", a negative wait
    ("batch_size = 1.5\n", "batch_size: cannot use 1.5"),
    ("threads = 2.9\n", "threads: cannot use 2.9"),
    ("[keywords]\nlabels = { positive = { x = 1 } }\n", "keywords.labels: cannot use"),
    ("[daemon]\nmax_attempts = -5\n", "daemon.max_attempts at least 1"),
    ("[daemon]\nquiet_seconds = -1\n", "daemon.quiet_seconds must be at least 0"),
    # a typo would otherwise end in the out-of-memory killer
    ("threads = 1000000\n", "threads must be between 1 and 256"),
    ("batch_size = 100000\n", "batch_size must be between 1 and 1024"),
])
def test_bad_settings_are_one_clear_error(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_settings(write(tmp_path, text), environ={})


@pytest.mark.parametrize("content,match", [(b"\xff\xfe x=1\n", "not UTF-8 text"), (None, "not a regular file")])
def test_a_config_file_that_is_not_text_is_one_clear_error(tmp_path, content, match):
    path = Path("/dev/zero") if content is None else tmp_path / "config.toml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=match):
        load_settings(path, environ={})


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_as_dict_is_plain_data():
    import json

    json.dumps(Settings().as_dict())


@pytest.mark.parametrize("text", [
    '[keywords]\nparent = "A|B"\n', '[keywords]\nlabels = { positive = "" }\n',
    # XPKeywords are joined by ';'; exiftool and the readers trim spaces at a word's ends: the
    # stores would disagree and a re-tag was refused ("did not come out as planned")
    '[keywords]\nlabels = { other = "Calm;Quiet" }\n', '[keywords]\nparent = " Emotion"\n',
    '[keywords]\nlabels = { other = "Other " }\n', '[keywords]\nparent = "Emo\\ttion"\n'])
def test_keyword_words_cannot_break_the_hierarchy(tmp_path, text):
    with pytest.raises(ConfigError, match="without '\\|'"):
        load_settings(write(tmp_path, text), environ={})


def test_a_default_config_place_that_cannot_be_looked_into_is_one_clear_error(tmp_path, monkeypatch):
    # Path.is_file() lets errors other than "not there" out (EACCES for a user whose config
    # folder is not theirs; here a name too long for the file system, which root meets too)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ("x" * 300)))
    with pytest.raises(ConfigError, match="cannot read config file .*File name too long"):
        load_settings(None, environ={})


def test_a_misspelt_environment_variable_is_an_error_not_ignored():
    with pytest.raises(ConfigError, match=r"EMOWATCH_XP_KEYWORDS; did you mean EMOWATCH_KEYWORDS_XP_KEYWORDS\?"):
        load_settings(None, environ={"EMOWATCH_XP_KEYWORDS": "false"})
    with pytest.raises(ConfigError, match=r"EMOWATCH_EXPLAIN_SAMPLEZ; did you mean EMOWATCH_EXPLAIN_SAMPLES\?"):
        load_settings(None, environ={"EMOWATCH_EXPLAIN_SAMPLEZ": "50"})
    with pytest.raises(ConfigError, match="EMOWATCH_ZZZ; known: EMOWATCH_BATCH_SIZE, "):
        load_settings(None, environ={"EMOWATCH_ZZZ": "1"})
    assert load_settings(None, environ={"EMOWATCH_KEYWORDS_XP_KEYWORDS": "false"}).keywords.xp_keywords is False


def test_relative_paths_in_a_config_file_are_relative_to_its_folder(tmp_path, monkeypatch):
    # run from elsewhere, `dir = "heat"` scattered the sidecars and untag did not find them
    folder = tmp_path / "config"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text('model = "models/mine.onnx"\n[sidecars]\nmode = "central"\ndir = "heat"\n'
                      '[daemon]\nstate_dir = "~/state"\n')
    monkeypatch.chdir(tmp_path)
    s = load_settings(Path("config/config.toml"), environ={})
    assert s.model == folder / "models" / "mine.onnx" and s.sidecars.dir == folder / "heat"
    assert s.daemon.state_dir == Path("~/state").expanduser()
    # from the environment or a flag, a relative path is where emowatch is run from
    s = load_settings(config, environ={"EMOWATCH_SIDECARS_DIR": "here"}, overrides={"model": "m.onnx"})
    assert s.sidecars.dir == Path("here") and s.model == Path("m.onnx")


@pytest.mark.parametrize("environ,match", [
    ({"EMOWATCH_DAEMON_STATE_DIR": ""}, "EMOWATCH_DAEMON_STATE_DIR: daemon.state_dir is empty"),
    ({"EMOWATCH_MODEL": ""}, "EMOWATCH_MODEL: model is empty"),
    ({"EMOWATCH_SIDECARS_MODE": "central", "EMOWATCH_SIDECARS_DIR": ""}, "sidecars.dir is empty"),
])
def test_an_empty_path_setting_is_refused_not_the_current_folder(environ, match):
    # `EMOWATCH_DAEMON_STATE_DIR=$STATE` with STATE unset put the ledger where the daemon started
    with pytest.raises(ConfigError, match=match + r" \(an unset variable\?\)"):
        load_settings(None, environ=environ)


def test_an_empty_path_in_a_config_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"in config file .*config.toml: daemon.state_dir is empty"):
        load_settings(write(tmp_path, '[daemon]\nstate_dir = ""\n'), environ={})


def test_a_bad_value_names_where_it_came_from(tmp_path, monkeypatch):
    # a config file found without --config, or a variable set long ago, was hard to find
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    implicit = tmp_path / "emowatch" / "config.toml"
    implicit.parent.mkdir()
    implicit.write_text('devise = "cpu"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(None, environ={})
    assert str(e.value) == f"in config file {implicit}: unknown setting devise"
    implicit.write_text('[keywords]\nlabels = { positive = "A|B" }\n')
    with pytest.raises(ConfigError, match=rf"^in config file {implicit}: keywords.labels.positive must be"):
        load_settings(None, environ={})
    implicit.unlink()
    with pytest.raises(ConfigError) as e:
        load_settings(None, environ={"EMOWATCH_DEVICE": "gpu"})
    assert str(e.value) == "EMOWATCH_DEVICE: device must be one of auto, cuda, cpu, not 'gpu'"
    with pytest.raises(ConfigError, match=r"^EMOWATCH_THREADS: setting threads: cannot use '1.5'$"):
        load_settings(None, environ={"EMOWATCH_THREADS": "1.5"})
    with pytest.raises(ConfigError, match=r"^EMOWATCH_DAEMON_MAX_ATTEMPTS: daemon.quiet_seconds must"):
        load_settings(None, environ={"EMOWATCH_DAEMON_MAX_ATTEMPTS": "0"})
    # the later layer is the one named: a flag over the variable is left for the CLI to name
    with pytest.raises(ConfigError, match=r"^device must be one of"):
        load_settings(None, environ={"EMOWATCH_DEVICE": "gpu"}, overrides={"device": "tpu"})
    config = write(tmp_path, 'device = "tpu"\n')
    with pytest.raises(ConfigError, match=r"^EMOWATCH_DEVICE: device must be one of .*, not 'gpu'"):
        load_settings(config, environ={"EMOWATCH_DEVICE": "gpu"})
