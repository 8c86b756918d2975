"""kill -9 at random moments while tagging a 24 MP JPEG: the photo is always either the
original bytes or the complete tagged file, and leftover temp files are swept."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import corpus
from emowatch.atomic import is_temp_file, sweep_temp_files
from emowatch.metadata import write_tags

TRIALS = 20
ROOT = Path(__file__).resolve().parent.parent

# tags and untags in a loop, as fast as it can; says "ready" once imported, then each write
CHILD = """
import sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from pathlib import Path
import corpus
from emowatch.metadata import remove_tags, write_tags
from emowatch.settings import Settings
path, settings, tags = Path(sys.argv[1]), Settings(), corpus.emotion()
print("ready", flush=True)
while True:
    write_tags(path, tags, settings=settings, exiftool=None)
    print("tagged", flush=True)
    remove_tags(path, settings=settings, exiftool=None)
    print("untagged", flush=True)
"""


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, bytes, bytes]:
    """A 24 MP JPEG, its bytes, and its bytes once tagged."""
    folder = tmp_path_factory.mktemp("big")
    path = corpus.jpeg_large(folder / "big.jpg", megapixels=24)
    original = path.read_bytes()
    tagged_copy = corpus.copy(path, folder, "tagged.jpg")
    from emowatch.settings import Settings

    write_tags(tagged_copy, corpus.emotion(), settings=Settings(), exiftool=None)
    return path, original, tagged_copy.read_bytes()


def test_kill_at_random_moments_leaves_original_or_complete_tagged_file(big, tmp_path):
    source, original, tagged = big
    assert len(original) > 2_000_000 and tagged != original
    rng = random.Random(1234)
    code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"))
    seen = {"original": 0, "tagged": 0}
    writes = 0
    for trial in range(TRIALS):
        folder = tmp_path / f"trial{trial}"
        folder.mkdir()
        photo = folder / "IMG_0001.jpg"
        shutil.copyfile(source, photo)
        child = subprocess.Popen([sys.executable, "-c", code, str(photo)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
            time.sleep(rng.uniform(0.0, 1.2))
        finally:
            child.send_signal(signal.SIGKILL)
            out, err = child.communicate(timeout=30)
        assert "Traceback" not in err, err
        writes += out.count("tagged")  # counts "untagged" too: both are writes

        data = photo.read_bytes()
        assert data in (original, tagged), f"trial {trial}: photo is neither original nor tagged"
        seen["original" if data == original else "tagged"] += 1
        sweep_temp_files(folder)
        assert [p.name for p in folder.iterdir() if is_temp_file(p)] == []
        assert [p.name for p in folder.iterdir()] == ["IMG_0001.jpg"]
    assert writes >= TRIALS, "the child hardly wrote: kills did not land during writes"
    assert seen["original"] and seen["tagged"], seen
