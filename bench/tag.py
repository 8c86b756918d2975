"""How fast `emowatch tag` is: classify + write per photo, and the metadata write per format.

    python bench/tag.py [--photos 24] [--runs 3] [--model PATH]

Makes its own photos in a temp folder (skimage's public-domain photos upscaled to 24 MP with a
little noise, so they compress and decode like camera JPEGs; the same with camera EXIF, IPTC
keywords and/or a 1616 px MPF preview as Sony cameras embed one; and 224 px JPEGs), then times
`Tagger.tag()` exactly as `emowatch tag --no-explain` runs it, on fresh copies each run (a second
tag of the same photo is a no-op). Prints a table: median of runs, photos/s, ratio against the
224 px case, the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # photos.camera_jpeg: the one way test files get a preview




def camera_exif() -> bytes:
    """EXIF as a camera writes it (IFD0, Exif IFD, a maker note): the file then has an IFD0
    for XPKeywords, which emowatch writes itself (emowatch/xmp/xp_keywords.py)."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "BenchCam", "Model 24", "2026:01:01 12:00:00"
    sub = exif.get_ifd(0x8769)
    sub[0x829A], sub[0x8827] = 1 / 250, 400  # ExposureTime, ISO
    sub[0x927C] = b"BENCHCAM\x00" + bytes(range(256)) * 8  # MakerNote
    return exif.tobytes()


def make_photos(folder: Path, count: int, size: tuple[int, int], prefix: str,
                exif: bytes = b"", preview: bool = False, iptc: bool = False) -> list[Path]:
    """`preview`: with a 1616 px MPF preview after the photo, as Sony cameras
    write one (tests/photos.camera_jpeg). `iptc`: with an IPTC keyword, as a photo that has
    been through Photoshop or a press workflow carries them: only exiftool keeps IPTC (and then
    XPKeywords) in step with XMP."""
    import skimage.data as data
    from photos import camera_jpeg

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        base = Image.fromarray(sources[i % len(sources)]).resize(size, Image.Resampling.BICUBIC)
        noisy = np.asarray(base, dtype=np.int16) + rng.normal(0, 4, (size[1], size[0], 3)).astype(np.int16)
        path = folder / f"{prefix}_{i:03d}.jpg"
        array = np.clip(noisy, 0, 255).astype(np.uint8)
        if preview:
            camera_jpeg(path, array, exif=exif, quality=90)
        else:
            Image.fromarray(array).save(path, quality=90, exif=exif)
        paths.append(path)
    if iptc:
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-IPTC:Keywords=Family", *map(str, paths)],
                       check=True)
    return paths


def fresh_copies(paths: list[Path], folder: Path) -> list[Path]:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return [Path(shutil.copy(p, folder / p.name)) for p in paths]


def time_tagging(tagger, originals: list[Path], work: Path, runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process, all threads) of a whole run."""
    seconds, cpu = [], []
    for _ in range(runs):
        copies = fresh_copies(originals, work)
        start, start_cpu = time.perf_counter(), time.process_time()
        results = list(tagger.tag(copies))
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        failed = [r for r in results if r.error]
        if failed:
            raise SystemExit(f"bench photo failed: {failed[0].path}: {failed[0].error}")
    return statistics.median(seconds), statistics.median(cpu)


def decode_ms(model, photos: list[Path], fast_jpeg: bool = True) -> tuple[float, float]:
    """Median wall and CPU ms to decode one photo to the model's input in one thread
    (Tagger.prepare's work)."""
    from emowatch.runtime.classify import prepare

    wall, cpu = [], []
    for path in photos:
        start, start_cpu = time.perf_counter(), time.process_time()
        prepare(path, model, None, fast_jpeg=fast_jpeg)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def write_times(settings, exiftool, scratch: Path, runs: int,
                more: dict[str, Path]) -> list[tuple[str, str, float, float]]:
    """Median wall and CPU seconds (this thread) of one write_tags call per format, on a fresh
    copy each time; `more`: further photos to time, by the name to show."""
    from emowatch.metadata import write_tags
    from emowatch.tags import EmotionTags

    tags = EmotionTags(label="positive", keyword="Positive", parent="Emotion", confidence=0.9,
                       probabilities={"positive": 0.9, "negative": 0.07, "other": 0.03},
                       model="bench@1", tagged_at="2026-01-01T00:00:00+00:00")
    array = np.asarray(Image.fromarray(__import__("skimage.data", fromlist=["coffee"]).coffee()))
    sources = {}
    for name, kwargs in [("photo.jpg", {"quality": 90}), ("photo.png", {}), ("photo.tif", {}),
                         ("photo.webp", {"quality": 90})]:
        path = scratch / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path, **kwargs)
        sources[name] = path
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        Image.fromarray(array).save(scratch / "src" / "photo.heic")
        sources["photo.heic"] = scratch / "src" / "photo.heic"
    except Exception:  # no HEIF encoder: the row is left out, and says so
        pass
    raw = scratch / "src" / "photo.cr2"
    raw.write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(64))  # a stand-in raw: only its sidecar is written
    sources["photo.cr2"] = raw
    shown = {name.split(".")[1].upper(): path for name, path in sources.items()} | more
    rows = []
    for name, source in shown.items():
        times, cpu, action = [], [], ""
        for i in range(max(runs, 5)):
            work = scratch / f"w{i}"
            work.mkdir(exist_ok=True)
            path = Path(shutil.copy(source, work / source.name))
            start, start_cpu = time.perf_counter(), time.thread_time()
            result = write_tags(path, tags, settings=settings, exiftool=exiftool)
            times.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
            action = result.action
        rows.append((name, action, statistics.median(times), statistics.median(cpu)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from emowatch.exiftool import ExiftoolPool
    from emowatch.runtime.model import EmotionModel
    from emowatch.settings import load_settings
    from emowatch.tagging import WRITERS, Tagger

    threadpool_limits(1, user_api="blas")
    settings = load_settings(None, environ={}, overrides={"model": args.model, "explain.enabled": False,
                                                         "min_confidence": 0.0, "device": "cpu"})
    model = EmotionModel.load(settings.model, device="cpu")
    exiftool = ExiftoolPool.find(settings.exiftool, size=WRITERS)  # as `emowatch tag` runs it
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if exiftool is not None:
            stack.enter_context(exiftool)
        tmp = Path(tmp)
        big = make_photos(tmp / "src24", args.photos, (6000, 4000), "big")
        small = make_photos(tmp / "src224", args.photos * 4, (224, 224), "small")
        camera = make_photos(tmp / "src24cam", args.photos, (6000, 4000), "cam", exif=camera_exif())
        pressed = make_photos(tmp / "src24iptc", args.photos, (6000, 4000), "iptc", exif=camera_exif(),
                              iptc=exiftool is not None)
        previews = make_photos(tmp / "src24prev", args.photos, (6000, 4000), "prev", preview=True)
        both = make_photos(tmp / "src24both", args.photos, (6000, 4000), "both", exif=camera_exif(),
                           preview=True)
        mb = statistics.mean(p.stat().st_size for p in big) / 1e6
        tagger = Tagger(model, settings, exiftool=exiftool)
        classify_only = Tagger(model, settings, write=False)
        no_xp = Tagger(model, replace(settings, keywords=replace(settings.keywords, xp_keywords=False)),
                       exiftool=exiftool)
        pillow = Tagger(model, replace(settings, fast_jpeg=False), exiftool=exiftool)
        list(tagger.tag(fresh_copies(small[:4], tmp / "warm")))  # session creation and first run
        list(tagger.tag(fresh_copies(big[:2], tmp / "warm")))  # numba's compiled decoder loaded
        write, classify, decode = ("classify + write", tagger), ("classify only", classify_only), None
        by_pillow = [("classify + write, fast_jpeg = false (Pillow decodes)", pillow), "decode by Pillow"]
        cases = [
            ("224 px JPEG", small, [write, classify, decode]),
            (f"24 MP JPEG ({mb:.1f} MB)", big, [write, classify, decode, *by_pillow]),
            ("24 MP JPEG with a 1616 px MPF preview (as Sony cameras write)", previews,
             [write, classify, decode]),
            ("24 MP JPEG with camera EXIF (+ XPKeywords, written by emowatch)", camera, [write]),
            ("24 MP JPEG with camera EXIF and IPTC keywords (+ IPTC and XPKeywords via exiftool)",
             pressed, [write]),
            ("24 MP JPEG with camera EXIF and an MPF preview", both,
             [write, ("classify + write, xp_keywords = false", no_xp)]),
        ]
        rows = []
        for label, photos, stages in cases:
            for stage in stages:
                if stage is None or stage == "decode by Pillow":
                    wall_ms, cpu_ms = decode_ms(model, photos, fast_jpeg=stage is None)
                    what = "decode only, one thread" + ("" if stage is None else ", fast_jpeg = false (Pillow)")
                    rows.append((label, what, len(photos), wall_ms, None, cpu_ms, None))
                    continue
                what, t = stage
                med, cpu = time_tagging(t, photos, tmp / "work", args.runs)
                rows.append((label, what, len(photos), med / len(photos) * 1000, len(photos) / med,
                             cpu / len(photos) * 1000, cpu / med))
        write_rows = write_times(settings, exiftool, tmp / "writes", args.runs, {
            f"JPG, 24 MP ({mb:.1f} MB)": big[0],
            "JPG, 24 MP with camera EXIF (+ XPKeywords, written by emowatch)": camera[0],
            "JPG, 24 MP with camera EXIF and IPTC keywords (+ IPTC and XPKeywords via exiftool)": pressed[0]})

    base = rows[0][4]
    print(f"emowatch tag benchmark — {date.today()} — {machine()}")
    print(f"model: {model.info.id} ({model.info.backbone}), ONNX Runtime CPU, explanations off, "
          f"median of {args.runs} runs; exiftool {'present' if exiftool else 'absent'}")
    print(f"command: python bench/tag.py --photos {args.photos} --runs {args.runs}\n")
    print("| photos | stage | n | ms/photo | photos/s | vs 224 px classify+write | CPU ms/photo | cores busy |")
    print("|---|---|---|---|---|---|---|---|")
    for label, what, n, ms, rate, cpu, busy in rows:
        if rate is None:
            print(f"| {label} | {what} | {n} | {ms:.1f} | - | - | {cpu:.1f} | - |")
            continue
        print(f"| {label} | {what} | {n} | {ms:.1f} | {rate:.1f} | {rate / base:.2f}x | {cpu:.1f} | {busy:.2f} |")
    print("\n| format | written as | write_tags ms (median) | emowatch's CPU ms (median) |")
    print("|---|---|---|---|")
    for fmt, action, sec, cpu in write_rows:
        print(f"| {fmt} | {action} | {sec * 1000:.1f} | {cpu * 1000:.1f} |")


if __name__ == "__main__":
    main()
