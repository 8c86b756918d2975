"""The real CLI, driven through click's runner: exit codes, JSON lines, dry runs, docs that cannot drift."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from emowatch.cli.main import cli
from emowatch.cli.reference import BEGIN, END, reference
from emowatch.settings import load_settings
from models import make_model
from photos import save

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path, monkeypatch):
    # no user config, no stray EMOWATCH_* settings from the machine running the tests
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for key in list(__import__("os").environ):
        if key.startswith("EMOWATCH_"):
            monkeypatch.delenv(key)
    return tmp_path


@pytest.fixture
def model(env):
    return make_model(env / "model.onnx")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def exif_keywords(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def test_tag_json_lines_and_exit_code_with_one_bad_photo(env, model):
    photos = env / "shoot"
    good = [save(photos / f"{i}.jpg", seed=i) for i in range(2)]
    (photos / "broken.jpg").write_text("not a jpeg")
    result = run("tag", "--json", "--no-explain", "--model", model, "--min-confidence", "0", photos)
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert {"path", "label", "confidence", "probabilities", "keywords", "sidecars", "model",
                "seconds", "error"} <= set(line)
    by_name = {Path(line["path"]).name: line for line in lines}
    assert "not a photo" in by_name["broken.jpg"]["error"]
    for path in good:
        line = by_name[path.name]
        assert line["error"] is None and line["model"] == "tiny-test@0.0.1"
        word = line["label"].title()
        assert line["keywords"] == [f"Emotion|{word}", "Emotion", word]
        tags = exif_keywords(path)
        assert tags["HierarchicalSubject"] == f"Emotion|{word}"
        assert set(tags["Subject"]) == {"Emotion", word}


@pytest.mark.parametrize("command", ["tag", "untag"])
def test_an_empty_path_is_an_error_not_the_current_folder(env, model, monkeypatch, command):
    # `emowatch untag "$DIR"` with DIR unset untagged every photo where the user stood
    shoot = env / "shoot"
    photo = save(shoot / "a.jpg")
    assert run("tag", "--no-explain", "--model", model, "--min-confidence", "0", photo).exit_code == 0
    tagged = photo.read_bytes()
    monkeypatch.chdir(shoot)
    result = run(command, "--json", *(["--no-explain", "--model", model] if command == "tag" else []), "")
    assert result.exit_code == 2 and result.stdout == ""  # a usage error, before any photo
    assert "empty path" in result.stderr and "not taken to mean the current folder" in result.stderr
    assert photo.read_bytes() == tagged
    watched = run("run", "--state", env / "state", "")
    assert watched.exit_code == 2 and "empty path" in watched.stderr


def test_all_good_exits_zero_and_prints_lines(env, model):
    path = save(env / "a.jpg")
    result = run("tag", "--no-explain", "--model", model, path)
    assert result.exit_code == 0, result.output
    assert "a.jpg" in result.stdout
    assert "1 of 1 photo tagged" in result.stderr


def test_a_batch_where_every_photo_failed_says_so_without_a_rate(env, model):
    path = env / "a.gif"
    save(path, size=(32, 32), format="GIF")
    result = run("tag", "--no-explain", "--model", model, path)
    assert result.exit_code == 1
    assert "a.gif: GIF is not a format emowatch reads" in result.stdout
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("0 of 1 photo tagged; 1 failed in ") and "photos/s" not in summary
    assert "photos/s" in run("tag", "--no-explain", "--model", model, save(env / "b.jpg")).stderr


def test_a_name_with_a_line_break_is_tagged_and_shown_on_one_line(env, model):
    # a TIFF goes through exiftool, whose argument file is line-based
    path = save(env / "harbour\nat dusk.tif")
    result = run("tag", "--no-explain", "--model", model, "--min-confidence", "0", path)
    assert result.exit_code == 0, result.output
    [line] = result.stdout.strip().splitlines()
    assert "harbour\\nat dusk.tif" in line and line.endswith("exiftool")
    assert exif_keywords(path)["HierarchicalSubject"].startswith("Emotion|")


def test_a_save_by_another_program_in_the_last_instant_survives_and_the_photo_says_so(
        env, model, monkeypatch):
    # a TIFF: exiftool writes our temp file; the editor saves (temp file renamed over the
    # photo) in the instant between emowatch's last look and its commit
    from emowatch import atomic

    path = save(env / "IMG_1.tif", seed=1)
    theirs = save(env / "edit" / "IMG_1.tif", seed=2).read_bytes()

    def probe_then_their_save(real):
        (env / ".IMG_1.tif.editor").write_bytes(theirs)
        os.rename(env / ".IMG_1.tif.editor", path)
        return False

    monkeypatch.setattr(atomic, "open_for_writing", probe_then_their_save)
    result = run("tag", "--no-explain", "--model", model, "--min-confidence", "0", path)
    assert result.exit_code == 1
    assert "IMG_1.tif: file changed while emowatch was writing; not overwritten" in result.stdout
    assert path.read_bytes() == theirs
    assert sorted(p.name for p in env.iterdir() if p.name.startswith(".IMG_1")) == []


def test_json_for_a_name_that_is_not_utf8_is_valid_and_gives_the_name_back(env, model):
    # a Latin-1 name from an old card: the line must stay valid UTF-8 for jq and friends
    name = os.fsdecode(os.fsencode(str(env)) + b"/caf\xe9.jpg")
    save(Path(name))
    out = subprocess.run([sys.executable, "-c", "from emowatch.cli.main import main; main()", "tag",
                          "--json", "--no-explain", "--model", str(model), name],
                         capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout.decode("utf-8"))
    assert os.fsencode(record["path"]) == os.fsencode(name) and record["error"] is None


# Ctrl-C as at a terminal: a non-interactive shell starts its background jobs (`pytest … &` in a
# script) with SIGINT ignored, which every child inherits and Python then leaves ignored
_INTERRUPTIBLE = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "


def _tagging(args: list, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _INTERRUPTIBLE + "from emowatch.cli.main import main; main()",
                             "tag", *map(str, args)], **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs})


def _tagged_on_disk(photos: list[Path]) -> int:
    return sum(b"emowatch" in p.read_bytes() for p in photos)


def test_ctrl_c_stops_the_batch_says_so_and_exits_130(env, model):
    import signal

    photos = [save(env / "shoot" / f"{i:02}.jpg", seed=i) for i in range(40)]
    # LIME at its default samples: a few photos a second, so the batch is still going
    proc = _tagging(["--json", "--model", model, "--min-confidence", "0", env / "shoot"])
    first = proc.stdout.readline()
    assert json.loads(first)["error"] is None
    proc.send_signal(signal.SIGINT)
    # read on through the same buffered pipe: communicate() reads the file descriptor itself,
    # and lines readline() had already buffered would be lost
    with proc.stdout, proc.stderr:
        rest, err = proc.stdout.read(), proc.stderr.read()
    assert proc.wait(timeout=60) == 130, err
    assert err.decode().strip().splitlines()[-1] == "emowatch: interrupted" and b"Traceback" not in err
    reported = 1 + len(rest.splitlines())
    # what was queued is not started; the photos in the writers' hands are finished, and told
    assert reported == _tagged_on_disk(photos) < len(photos)
    assert not [p for p in (env / "shoot").iterdir() if "emowatch-tmp" in p.name]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_a_reader_that_goes_away_stops_the_batch_quietly(env, model, as_json):
    # text went through rich, whose SystemExit(1) said "some photos failed"
    photos = [save(env / "shoot" / f"{i:02}.jpg", seed=i) for i in range(40)]
    proc = _tagging(["--json"] * as_json + ["--model", model, "--min-confidence", "0", env / "shoot"])
    proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    assert proc.wait(timeout=60) == 141
    with proc.stderr:
        assert b"Traceback" not in proc.stderr.read()
    assert _tagged_on_disk(photos) < len(photos)


def test_results_that_cannot_be_written_are_one_line(env, model):
    photo = save(env / "a.jpg")
    with open("/dev/full", "w") as full:
        proc = _tagging(["--json", "--no-explain", "--model", model, photo], stdout=full)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.decode().strip() == "emowatch: error: cannot write the results: No space left on device"


@pytest.mark.parametrize("command", ["tag", "untag", "explain"])
def test_a_named_pipe_or_a_device_named_as_a_photo_is_refused_not_waited_on(env, model, command):
    os.mkfifo(env / "pipe.jpg")
    args = ["--json", *(["--model", model] if command != "untag" else []), env / "pipe.jpg", "/dev/zero"]
    out = subprocess.run([sys.executable, "-c", "from emowatch.cli.main import main; main()", command,
                          *map(str, args)], capture_output=True, timeout=60)  # it used to hang here
    assert out.returncode == 1, out.stderr
    errors = [json.loads(line)["error"] for line in out.stdout.splitlines()]
    assert errors == ["is not a regular file (a named pipe), not a photo",
                      "is not a regular file (a device), not a photo"]


def test_a_symlink_loop_in_a_folder_is_that_files_error_not_the_end_of_the_batch(env, model):
    shoot = env / "shoot"
    photo = save(shoot / "b.jpg")
    (shoot / "a.jpg").symlink_to(shoot / "c.jpg")
    (shoot / "c.jpg").symlink_to(shoot / "a.jpg")
    result = run("tag", "--json", "--no-explain", "--model", model, "--min-confidence", "0", shoot)
    assert result.exit_code == 1
    by_name = {Path(r["path"]).name: r["error"] for r in map(json.loads, result.stdout.splitlines())}
    assert by_name["b.jpg"] is None and b"emowatch" in photo.read_bytes()
    assert "Too many levels of symbolic links" in by_name["a.jpg"]


def test_a_photo_the_model_cannot_score_fails_alone_not_its_whole_batch(env):
    import numpy as np

    model = make_model(env / "nan.onnx", nan_below=-1.5)  # NaN for a black photo only
    shoot = env / "shoot"
    save(shoot / "black.jpg", np.zeros((240, 320, 3), np.uint8))
    for i in range(3):
        save(shoot / f"{i}.jpg", seed=i)
    result = run("tag", "--json", "--no-explain", "--dry-run", "--model", model, shoot)
    errors = {Path(r["path"]).name: r["error"] for r in map(json.loads, result.stdout.splitlines())}
    assert result.exit_code == 1
    assert errors == {"0.jpg": None, "1.jpg": None, "2.jpg": None,
                      "black.jpg": "the model returned scores that are not numbers (NaN or infinite)"}


def test_explanation_flags_with_no_explain_are_a_usage_error(env, model):
    photo = save(env / "a.jpg")
    result = run("tag", "--no-explain", "--explainer", "cam", "--model", model, photo)
    assert result.exit_code == 2 and "--explainer is for explanations: it cannot go with --no-explain" in result.stderr
    assert b"emowatch" not in photo.read_bytes()


def test_explain_explains_where_the_settings_turn_explanations_off_for_tag(env, model, monkeypatch):
    # `enabled = false` (a fast `tag`) made `explain` report "explained" and write nothing
    photo = save(env / "a.jpg")
    monkeypatch.setenv("EMOWATCH_EXPLAIN_ENABLED", "false")
    monkeypatch.setenv("EMOWATCH_EXPLAIN_METHOD", "cam")
    result = run("explain", "--json", "--model", model, photo)
    [record] = map(json.loads, result.stdout.splitlines())
    assert result.exit_code == 0 and record["error"] is None
    assert set(record["sidecars"]) == {"heatmap", "explain", "regions"}
    assert (env / ".emowatch" / "a.jpg.heatmap.png").is_file()


def test_a_model_that_cannot_run_is_one_error_before_any_photo(env):
    # it was found at the first photo and told once per photo; the daemon recorded every photo
    # of the library as failed, and kept them so after the model was fixed
    from emowatch import modelmeta
    from models import tiny_info

    meta = tiny_info().to_metadata()
    meta[modelmeta.KEY_LABELS] = '["a", "b"]'  # the graph has three logits
    bad = make_model(env / "bad.onnx", metadata=meta)
    for i in range(3):
        save(env / "shoot" / f"{i}.jpg", seed=i)
    result = run("tag", "--json", "--no-explain", "--model", bad, env / "shoot")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("error") == 1 and "metadata names 2 labels" in result.stderr


def test_results_come_in_the_order_the_photos_were_given(env, model):
    # a failure jumped ahead of the photos before it in its batch
    a, b = save(env / "a.jpg", seed=1), save(env / "b.jpg", seed=2)
    (env / "notes.jpg").write_text("not a photo")
    result = run("tag", "--json", "--no-explain", "--dry-run", "--model", model, a, env / "notes.jpg", b)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["a.jpg", "notes.jpg", "b.jpg"]
    assert records[0]["written"]["reason"] is None  # nothing to explain: null, not ""


def test_a_folder_without_photos_says_so(env, model):
    (env / "notes").mkdir()
    (env / "notes" / "todo.txt").write_text("buy film")
    result = run("tag", "--no-explain", "--model", model, env / "notes")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no photos found" in result.stderr


def test_untag_of_a_photo_with_only_a_heatmap_says_it_removed_it(env, model):
    path = save(env / "a.jpg")
    assert run("explain", "--explainer", "cam", "--model", model, path).exit_code == 0
    assert (env / ".emowatch" / "a.jpg.heatmap.png").is_file()
    [line] = run("untag", "--json", path).stdout.splitlines()
    record = json.loads(line)
    assert record["written"]["action"] == "removed" and not (env / ".emowatch").exists()


def test_untag_finds_sidecars_an_earlier_run_put_beside_the_photo(env, model):
    path = save(env / "a.jpg")
    assert run("tag", "--explainer", "cam", "--sidecars", "beside", "--model", model, path).exit_code == 0
    assert (env / "a.jpg.heatmap.png").is_file()
    assert run("untag", path).exit_code == 0  # today's settings: hidden
    assert sorted(p.name for p in env.iterdir()) == ["a.jpg", "model.onnx"]


def test_min_confidence_makes_photos_uncertain(env, model):
    path = save(env / "a.jpg")
    result = run("tag", "--json", "--no-explain", "--model", model, "--min-confidence", "1", path)
    line = json.loads(result.stdout)
    assert result.exit_code == 0
    assert line["uncertain"] is True and line["keywords"] == []
    assert "Subject" not in exif_keywords(path)
    text = run("tag", "--no-explain", "--model", model, "--min-confidence", "1", path).stdout
    # the label column keeps its width; the line says what being uncertain meant
    assert re.match(rf"^{line['label']:<9} \d\.\d\d  .*a\.jpg  uncertain: no emotion keyword; ", text), text


def test_dry_run_changes_nothing(env, model):
    path = save(env / "a.jpg")
    before = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    result = run("tag", "--dry-run", "--model", model, "--min-confidence", "0", "--explainer", "cam", path)
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in env.iterdir()) == ["a.jpg", "model.onnx"]  # no .emowatch/ either
    assert "would" in result.stdout + result.stderr


def test_untag_removes_what_tag_wrote(env, model):
    path = save(env / "a.jpg")
    original = path.read_bytes()
    assert run("tag", "--model", model, "--min-confidence", "0", "--explainer", "cam", path).exit_code == 0
    assert path.read_bytes() != original
    assert (env / ".emowatch" / "a.jpg.heatmap.png").is_file()
    untouched = save(env / "b.jpg")
    result = run("untag", path, untouched)
    assert result.exit_code == 0, result.output
    assert "Subject" not in exif_keywords(path)
    assert not (env / ".emowatch").exists()
    assert "2 of 2 photos untagged (1 nothing-to-remove, 1 removed)" in result.stderr


@pytest.mark.parametrize("args", [
    ["tag"],  # no paths
    ["untag"],
    ["tag", "-0", "x.jpg"],  # NUL-separated, but no list
    ["tag", "--files-from", "/nonexistent/list.txt"],
    ["tag", "--files-from", ""],
    ["tag", "--device", "tpu", "x.jpg"],
    ["tag", "--min-confidence", "3", "x.jpg"],
    ["tag", "--config", "/nonexistent/emowatch.toml", "x.jpg"],
    ["nonsense"],
])
def test_usage_errors_exit_2(env, args):
    result = run(*args)
    assert result.exit_code == 2


def test_photos_listed_in_a_file_or_on_standard_input_are_tagged_with_the_ones_named(env, model):
    # for more photos than a command line holds (a script, a plugin): `find -print0` style too
    shoot = env / "shoot"
    photos = [save(shoot / f"{i}.jpg", seed=i) for i in range(3)]
    odd = save(shoot / "two\nlines.jpg", seed=3)
    listing = env / "list.txt"
    listing.write_bytes(f"{photos[1]}\r\n\n{shoot / 'gone.jpg'}\n".encode())
    result = run("tag", "--json", "--no-explain", "--model", model, photos[0], "--files-from", listing)
    assert result.exit_code == 1  # the listed photo that is not there
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in lines] == [str(photos[0]), str(photos[1]), str(shoot / "gone.jpg")]
    assert [r["error"] is None for r in lines] == [True, True, False]

    names = b"\0".join(os.fsencode(p) for p in (photos[2], odd)) + b"\0"
    result = CliRunner().invoke(cli, ["untag", "--json", "-0", "--files-from", "-"], input=names)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(photos[2]), str(odd)]
    result = CliRunner().invoke(cli, ["tag", "--json", "--no-explain", "--model", str(model), "-0",
                                      "--min-confidence", "0", "--files-from", "-"], input=names)
    assert result.exit_code == 0, result.output
    assert "Emotion|" in str(exif_keywords(odd)["HierarchicalSubject"])


def test_each_files_from_list_is_taken(env):
    # a second --files-from adds its photos: a plain option kept the last list only, and the
    # photos of the first were left out without a word (exit 0)
    photos = [save(env / f"{i}.jpg", seed=i) for i in range(3)]
    first, second = env / "first.txt", env / "second.txt"
    first.write_text(f"{photos[0]}\n")
    second.write_text(f"{photos[1]}\n")
    result = CliRunner().invoke(cli, ["untag", "--json", "--files-from", first, "--files-from", second,
                                      "--files-from", "-", "--files-from", "-"], input=f"{photos[2]}\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(p) for p in photos]


def test_bad_config_value_is_one_line_and_exit_2(env):
    config = env / "c.toml"
    config.write_text('device = "tpu"\n')
    result = run("tag", "--config", config, env / "x.jpg")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"emowatch: error: in config file {config}: device must be one of auto, cuda, cpu, not 'tpu'"]


def test_a_bad_flag_value_is_named_by_its_flag_and_a_bad_file_value_by_its_setting(env):
    path = save(env / "x.jpg")
    result = run("tag", "--seed", "-1", path)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["emowatch: error: --seed must be between 0 and 2**32 - 1, not -1"]
    config = env / "seed.toml"
    config.write_text("[explain]\nseed = -1\n")
    result = run("tag", "--config", config, path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"emowatch: error: in config file {config}: explain.seed must be")


def test_missing_model_is_one_clear_line(env):
    path = save(env / "a.jpg")
    result = run("tag", "--model", env / "missing.onnx", path)
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("missing.onnx: model file not found")


def test_info_reports_model_providers_exiftool_and_settings(env, model):
    result = run("info", "--json", "--model", model, "--device", "cuda")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"]["name"] == "tiny-test" and data["model"]["labels"] == ["positive", "negative", "other"]
    assert data["providers"]["in_use"] == ["CPUExecutionProvider"]
    assert "running on CPU" in data["providers"]["fallback"]
    assert data["exiftool"]["found"] is True and data["exiftool"]["version"]
    assert data["settings"]["device"] == "cuda"
    assert "running on CPU" in result.stderr


def test_info_says_once_that_cuda_fell_back_to_cpu(env, model):
    # the report's own line, and the runtime's warning on stderr a second time
    result = run("info", "--model", model, "--device", "cuda")
    assert result.exit_code == 0, result.output
    assert result.output.count("running on CPU") == 1 and "running on CPU" in result.stdout


def test_info_shows_the_default_models_evaluation_per_set_whole(env):
    result = run("info")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "trained on " in out and "from ImageNet weights" in out
    for name in ("all", "fi_val", "emotion6_test"):  # every set, none cut off
        assert re.search(rf"^ +{name}: accuracy 0\.\d{{3}}, macro f1 0\.\d{{3}}, \d+ photos$", out, re.M), out
    assert re.search(r"int8 copy: \d+\.\d% agreement with fp32, not kept", out)


def test_info_shows_the_settings_in_force_as_a_config_file_that_loads_back(env):
    config = env / "mine.toml"
    config.write_text('min_confidence = 0.7\n[keywords.labels]\npositive = "Joy"\n'
                      '[daemon]\nignore = ["*_draft.jpg"]\n')
    result = run("info", "--config", config)
    assert result.exit_code == 0, result.output
    text = result.stdout.split("settings (as TOML for a config file)\n", 1)[1]
    shown = env / "shown.toml"
    shown.write_text("\n".join(line[2:] for line in text.splitlines()))
    again, given = load_settings(shown, environ={}), load_settings(config, environ={})
    # every label of the model with the keyword it gets, the defaults included
    assert dict(again.keywords.labels) == {"positive": "Joy", "negative": "Negative", "other": "Other"}
    assert again == replace(given, keywords=replace(given.keywords, labels=again.keywords.labels))
    assert again.daemon.ignore == ("*_draft.jpg",) and again.min_confidence == 0.7


def test_info_settings_with_non_ascii_words_are_toml_that_loads_back(env, model):
    # json.dumps wrote 😀 as "\ud83d\ude00": surrogates are not valid TOML escapes
    import tomllib

    from emowatch.cli.info_cmd import _toml_lines

    config = env / "mine.toml"
    config.write_text('[keywords]\nparent = "Gefühl"\nlabels = { positive = "Fröhlich 😀" }\n', encoding="utf-8")
    result = run("info", "--model", model, "--config", config)
    assert result.exit_code == 0, result.output
    text = result.stdout.split("settings (as TOML for a config file)\n", 1)[1]
    shown = tomllib.loads("\n".join(line[2:] for line in text.splitlines()))
    assert shown["keywords"]["parent"] == "Gefühl" and shown["keywords"]["labels"]["positive"] == "Fröhlich 😀"
    assert 'positive = "Fröhlich 😀"' in text  # as it is, not escaped
    odd = {"exiftool": 'tab\there "quoted" \\ line\nbreak\x01\x7f', "keywords": {"labels": {"a b": "ö"}}}
    assert tomllib.loads("\n".join(_toml_lines(odd))) == odd


def test_sidecar_dir_with_another_sidecar_place_is_a_usage_error(env):
    path = save(env / "a.jpg")
    before = path.read_bytes()
    result = run("tag", "--sidecars", "beside", "--sidecar-dir", env / "heat", path)
    assert result.exit_code == 2
    assert "--sidecar-dir is the central folder" in result.stderr
    assert path.read_bytes() == before and not (env / "heat").exists()
    result = run("tag", "--sidecars", "central", path)
    assert result.exit_code == 2 and "--sidecars central needs --sidecar-dir DIR" in result.stderr


def test_untag_offers_no_model_or_explainer_options(env):
    result = run("untag", "--help")
    assert result.exit_code == 0
    assert "--sidecar-dir" in result.stdout and "--config" in result.stdout
    for flag in ("--explainer", "--samples", "--seed", "--model", "--device", "--batch-size"):
        assert flag not in result.stdout


def test_default_model_tags_a_bundled_example(env):
    photo = shutil.copy(ROOT / "examples" / "coffee.jpg", env / "coffee.jpg")
    result = run("tag", "--json", "--no-explain", photo)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert line["model"].startswith("emowatch")
    assert line["label"] in ("positive", "negative", "other")


def test_readme_cli_reference_is_generated_from_help():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(BEGIN) + len(BEGIN):readme.index(END)]
    assert section.strip() == reference().strip(), (
        "README's CLI reference is stale: run python -m emowatch.cli.reference --write README.md")


@pytest.mark.parametrize("name", ["main", "test"])
def test_readme_quick_start_is_exactly_one_command_each(name):
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "readme_command.py"), name],
                         capture_output=True, text=True, check=True)
    command = out.stdout.strip()
    assert command.count("\n") == 0 and "pip install" in command
    if name == "main":
        assert "emowatch tag" in command and "examples" in command
    else:
        assert "pytest" in command and "exiv2" in command


@pytest.mark.parametrize("command", ["tag", "untag", "explain"])
def test_a_path_that_cannot_be_checked_is_that_photos_error_and_the_batch_goes_on(env, model, command):
    # Path.is_dir() let ENAMETOOLONG (EACCES under a locked folder) out as a traceback
    photo = save(env / "a.jpg")
    long_name = env / ("a" * 300 + ".jpg")
    flags = [] if command == "untag" else ["--model", model, *(["--no-explain"] if command == "tag" else [])]
    result = run(command, *flags, long_name, photo)
    assert result.exit_code == 1, result.output
    assert f"{long_name}: cannot read: File name too long" in result.stdout
    assert re.search(r"^\S+ .*a\.jpg", result.stdout, re.M) and "1 failed" in result.stderr


def test_run_with_a_folder_that_cannot_be_checked_is_a_usage_error(env):
    result = run("run", "--state", env / "state", env / ("d" * 300))
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(": cannot read: File name too long")


def without_file_permissions_override() -> list[str]:
    """A command prefix under which a mode-000 file cannot be read, as for any user but root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and setpriv is not there to drop the capabilities that read anything")
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]


def test_one_unreadable_photo_given_by_name_fails_alone(env, model):
    # click's own readable check refused the whole command (exit 2) and a.jpg was not tagged
    good, locked = save(env / "a.jpg"), save(env / "b.jpg", seed=1)
    locked.chmod(0)
    out = subprocess.run([*without_file_permissions_override(), sys.executable, "-m", "emowatch", "tag",
                          "--no-explain", "--model", str(model), "--min-confidence", "0", str(good), str(locked)],
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(env / "config")})
    assert out.returncode == 1, out.stderr
    assert f"{locked}: cannot read" in out.stdout and "not readable" not in out.stderr
    assert exif_keywords(good)["HierarchicalSubject"].startswith("Emotion|")


@pytest.mark.parametrize("args", [
    ["tag", "--config", "", "x.jpg"], ["tag", "--model", "", "x.jpg"], ["tag", "--sidecar-dir", "", "x.jpg"],
    ["untag", "--sidecar-dir", "", "x.jpg"], ["info", "--config", ""], ["run", "--state", "", "nosuch-folder"],
    ["status", "--state", ""], ["status", "--config", ""],
])
def test_an_empty_path_flag_is_a_usage_error_not_the_current_folder(env, args):
    # `--state "$STATE"` with STATE unset put the ledger where the user stood; `--config ""`
    # said "cannot read config file .: [Errno 21] Is a directory"
    result = run(*args)
    assert result.exit_code == 2
    assert "an empty path was given (an unset variable?)" in result.stderr


def test_tag_r_reports_a_subfolder_it_cannot_read(env, model):
    from test_inputs import deeper_than_path_max

    shoot = env / "shoot"
    save(shoot / "a.jpg")
    deeper_than_path_max(shoot)
    result = run("tag", "-r", "--no-explain", "--model", model, shoot)
    assert result.exit_code == 1
    assert "cannot read this folder: File name too long" in result.stdout


def test_an_unexpected_error_shows_its_traceback_with_v_only(env, model, monkeypatch):
    # -v did nothing; a bug report needs to say where the fault was
    import emowatch.metadata

    def fault(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(emowatch.metadata, "remove_tags", fault)
    photo = save(env / "a.jpg")
    quiet = run("untag", photo)
    assert quiet.exit_code == 1 and "unexpected ZeroDivisionError: division by zero" in quiet.stdout
    assert "Traceback" not in quiet.stderr and "-v shows where" in quiet.stderr
    loud = run("-v", "untag", photo)
    assert loud.exit_code == 1 and "unexpected ZeroDivisionError" in loud.stdout
    assert "Traceback (most recent call last)" in loud.stderr and 'raise ZeroDivisionError("division' in loud.stderr
    assert "Traceback" not in run("untag", photo).stderr  # -v does not stay on for the next command


@pytest.mark.parametrize("command", ["tag", "untag", "explain"])
def test_a_path_that_is_not_there_is_named_as_it_was_typed(env, model, command):
    # "nosuch/" was reported as "nosuch": the "/" the user typed was dropped (Path() does that)
    save(env / "shoot" / "a.jpg")
    save(env / "b.jpg")
    flags = {"tag": ["--no-explain", "--model", model, "--min-confidence", "0"],
             "explain": ["--model", model], "untag": []}[command]
    typed = ["nosuch/", "./gone.jpg", "b.jpg/", "shoot/"]
    out = subprocess.run([sys.executable, "-c", "from emowatch.cli.main import main; main()", command,
                          *map(str, flags), *typed], cwd=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split(None, 1)[1] for line in lines[:3]] == [
        "nosuch/: no such file or folder", "./gone.jpg: no such file or folder",
        "b.jpg/: not a folder (a file of that name is there)"]   # not b.jpg itself, taken as a photo
    assert "shoot/a.jpg" in lines[3] and "error" not in lines[3]   # a photo in a folder, as before
    as_json = subprocess.run([sys.executable, "-c", "from emowatch.cli.main import main; main()", command,
                              "--json", *map(str, flags), "nosuch/"], cwd=env, capture_output=True,
                             text=True, timeout=120)
    assert json.loads(as_json.stdout)["path"] == "nosuch/"


@pytest.mark.parametrize("typed,message", [("nosuch/", "nosuch/: no such folder"),
                                           ("b.jpg/", "b.jpg/: not a folder")])
def test_run_names_a_folder_it_cannot_watch_as_it_was_typed(env, typed, message):
    save(env / "b.jpg")
    out = subprocess.run([sys.executable, "-c", "from emowatch.cli.main import main; main()", "run",
                          "--state", str(env / "state"), typed], cwd=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and out.stderr.strip().endswith(message), out.stderr


def test_result_lines_say_what_each_command_did_and_line_up():
    from rich.text import Text

    from emowatch.cli.render import result_line
    from emowatch.tagging import TagResult

    def plain(r: TagResult) -> str:
        return Text.from_markup(result_line(r)).plain

    heat = {"heatmap": Path("a.jpg.heatmap.png")}
    explained = plain(TagResult(Path("a.jpg"), "positive", 0.41, uncertain=True, sidecars=heat))
    assert explained.endswith("a.jpg  uncertain; heatmap saved")  # explain writes no keyword
    tagged = plain(TagResult(Path("a.jpg"), "positive", 0.41, uncertain=True, sidecars=heat,
                             action="embedded", target=Path("a.jpg")))
    assert tagged.endswith("a.jpg  uncertain: no emotion keyword; embedded; heatmap saved")
    untagged = [plain(TagResult(Path(f"{n}.jpg"), action=a)) for n, a in
                (("a", "removed"), ("b", "nothing-to-remove"), ("c", "would-write"))]
    assert len({line.index(".jpg") for line in untagged}) == 1, untagged
