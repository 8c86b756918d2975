"""Does a CAM cell's colour say which way it pushed? Centred (emowatch's) against uncentred cells.

    python bench/cam_sign.py [--photos 40] [--hide 5]

Photos: `--photos` FI validation photos and as many Emotion6 photos from ../shared/data (a fixed,
seeded choice), plus examples/. For each photo and each way of measuring the cells, the `--hide`
bluest cells are hidden (mean colour, as LIME hides regions) and then, separately, the reddest:
hiding cells that pushed toward the predicted class should lower its probability, hiding cells
that pushed against it should raise it. The cell ranking is the same both ways (centring
subtracts one constant); only where blue turns into red differs. Not a timing bench.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine  # noqa: E402

from emowatch.explain.cam import grid_segments  # noqa: E402
from emowatch.explain.perturb import mean_colour_image  # noqa: E402
from emowatch.runtime.classify import prepare  # noqa: E402
from emowatch.runtime.model import EmotionModel  # noqa: E402
from emowatch.runtime.preprocess import normalise  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def photo_paths(count: int) -> list[Path]:
    rows = [r for r in csv.DictReader(open(DATA / "fi" / "manifest.csv")) if r["split"] == "val"]
    random.Random(0).shuffle(rows)
    emotion6 = sorted((DATA / "emotion6").rglob("*.jpg"))
    random.Random(1).shuffle(emotion6)
    examples = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".jpg", ".png"))
    return [DATA / "fi" / r["path"] for r in rows[:count]] + emotion6[:count] + examples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=40, help="FI val photos, and as many Emotion6 photos")
    ap.add_argument("--hide", type=int, default=5, help="cells hidden at each end")
    args = ap.parse_args()
    model = EmotionModel.load(threads=2)
    ways = ("uncentred", "centred (emowatch)")
    tally = {w: {"one colour": 0, "toward": [0, 0], "against": [0, 0]} for w in ways}
    photos = photo_paths(args.photos)
    for path in photos:
        pixels = prepare(path, model).pixels
        out = model.run(normalise(pixels, model.info), cam=True)
        features = out.features[0].astype(np.float64)
        c = int(np.argmax(out.probabilities[0]))
        _, h, w = features.shape
        raw = np.einsum("c,chw->hw", out.cam_weights[0][c].astype(np.float64), features).ravel() / (h * w)
        segments = grid_segments(h, w, pixels.shape[0])
        hidden = mean_colour_image(pixels, segments)

        def shift(cells: list[int]) -> float:
            x = pixels.copy()
            mask = np.isin(segments, cells)
            x[mask] = hidden[mask]
            return float(model.run(normalise(x, model.info)).probabilities[0][c] - out.probabilities[0][c])

        for way, cells in zip(ways, (raw, raw - raw.mean())):
            t = tally[way]
            t["one colour"] += int((cells > 0).all() or (cells < 0).all())
            order = np.argsort(cells)
            for side, ids, moved in (("toward", order[::-1][:args.hide], lambda d: d < 0),
                                     ("against", order[:args.hide], lambda d: d > 0)):
                ids = [int(i) for i in ids if (cells[i] > 0) == (side == "toward") and cells[i] != 0]
                if ids:
                    t[side][1] += 1
                    t[side][0] += int(moved(shift(ids)))
    print(f"# CAM cell colours against what hiding the cells does\n\n- Machine: {machine()}\n"
          f"- Photos: {len(photos)} (FI val, Emotion6, examples/); model {model.info.name}@{model.info.version}\n"
          f"- Command: `python bench/cam_sign.py --photos {args.photos} --hide {args.hide}`\n")
    print(f"| cells | photos all one colour | hide {args.hide} bluest: probability falls | "
          f"hide {args.hide} reddest: probability rises |")
    print("|---|---|---|---|")
    for way in ways:
        t = tally[way]
        print(f"| {way} | {t['one colour']} of {len(photos)} | {t['toward'][0]} of {t['toward'][1]} | "
              f"{t['against'][0]} of {t['against'][1]} |")


if __name__ == "__main__":
    main()
