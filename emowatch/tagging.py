"""Tag photos: classify, explain, write keywords. The library behind `emowatch tag` and the daemon.

The work is split in stages so that callers can schedule them their own way:
`prepare` (decode + preprocess; thread-safe), `infer` (one batched model run), `finish`
(explanation sidecars + metadata write for one photo). `tag()` drives them for a list of photos,
decoding ahead in worker threads while the model runs. Any EmowatchError for a photo becomes a
TagResult with `error` set; the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .atomic import identity
from .errors import EmowatchError, FileChangedError, UnexpectedError
from .inputs import InputProblem
from .runtime.classify import Prediction, Prepared, infer, prepare
from .runtime.model import EmotionModel
from .settings import Settings, SidecarSettings
from .sidecars import KINDS, remove_sidecars, sidecar_path
from .tags import EmotionTags

log = logging.getLogger("emowatch.tagging")

# the heatmap is drawn at long side <= 1024: decode explained photos at least this large
EXPLAIN_MIN_SIDE = 768
# threads that decode, and threads that explain + write (each may hold an exiftool process)
WORKERS = 2
WRITERS = 4  # a write waits on exiftool and fsync more than it computes


@dataclass(frozen=True)
class TagResult:
    """What happened to one photo; `to_json()` is the stable `--json` interface."""

    path: Path
    label: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    uncertain: bool = False
    keywords: tuple[str, ...] = ()
    sidecars: dict[str, Path] = field(default_factory=dict)
    model: str = ""
    seconds: float = 0.0
    action: str | None = None  # what the metadata writer did: embedded, exiftool, sidecar, unchanged, ...
    target: Path | None = None  # the file written: the photo itself or its .xmp sidecar
    reason: str | None = None  # why a sidecar instead of embedding, why skipped, ...
    changes: tuple[str, ...] = ()
    error: str | None = None
    error_type: str | None = None
    transient: bool = False  # for the daemon: retrying may help
    given: str | None = None  # a command-line argument that is no photo, as typed ("nosuch/")

    @property
    def shown_path(self) -> str:
        """The name to show the user: the argument as typed, where that is what failed."""
        return self.given if self.given is not None else str(self.path)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.shown_path,
            "label": self.label,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "uncertain": self.uncertain,
            "keywords": list(self.keywords),
            "sidecars": {k: str(v) for k, v in self.sidecars.items()},
            "model": self.model,
            "seconds": round(self.seconds, 4),
            "written": None if self.action is None else {
                "action": self.action,
                "target": None if self.target is None else str(self.target),
                "reason": self.reason or None,
                "changes": list(self.changes),
            },
            "error": self.error,
        }


def tags_for(prediction: Prediction, settings: Settings, now: datetime | None = None) -> EmotionTags:
    """The metadata values for a prediction: no keyword below the minimum confidence."""
    uncertain = prediction.confidence < settings.min_confidence
    stamp = (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat()
    return EmotionTags(
        label=prediction.label,
        keyword=None if uncertain else settings.keywords.word(prediction.label),
        parent=settings.keywords.parent,
        confidence=prediction.confidence,
        probabilities=dict(prediction.probabilities),
        model=prediction.model,
        tagged_at=stamp,
    )


def failed(path: Path, error: EmowatchError, seconds: float = 0.0, given: str | None = None) -> TagResult:
    return TagResult(path=Path(path), seconds=seconds, error=error.reason,
                     error_type=type(error).__name__, transient=error.transient, given=given)


class Tagger:
    """Classify + explain + write, with the model, exiftool and explainer injected."""

    def __init__(
        self,
        model: EmotionModel,
        settings: Settings,
        *,
        exiftool: Any = None,
        explainer: Any = None,
        write: bool = True,
        dry_run: bool = False,
        workers: int = WORKERS,
        writers: int = WRITERS,
    ):
        self.model = model
        self.settings = settings
        self.exiftool = exiftool
        self.explainer = explainer
        self.write = write
        self.dry_run = dry_run
        self.workers = workers
        self.writers = writers

    # -- stages ---------------------------------------------------------------------------
    def prepare(self, path: Path) -> Prepared:
        return prepare(path, self.model, EXPLAIN_MIN_SIDE if self.explainer is not None else None,
                       previews=self.settings.camera_previews, fast_jpeg=self.settings.fast_jpeg)

    def infer(self, batch: list[Prepared]) -> list[Prediction]:
        return infer(batch, self.model)

    def finish(self, prepared: Prepared, prediction: Prediction, started: float) -> TagResult:
        """Explain and write one classified photo. Never raises an EmowatchError.

        The keywords are written even when the explanation cannot be made or saved; the photo
        then still reports an error (its heatmap is missing), and an older explanation of
        another answer goes, as it does when tagging without explanations. A photo deleted or
        replaced since it was decoded gets nothing: FileChangedError (the daemon retries)."""
        tags = tags_for(prediction, self.settings)
        explanation, unexplained = self._explanation(prepared, prediction)
        # looked at once the explanation (the long part) is made, before anything is written:
        # a photo changed meanwhile keeps its earlier heatmap and keywords as they were
        change = _change(prepared)
        if change is not None:
            doing = "classified" if explanation is None else "explained"
            error = FileChangedError(f"file {change} while it was {doing}; not "
                                     f"{'tagged' if self.write else 'explained'}", prepared.path)
            return _with_prediction(failed(prepared.path, error, time.perf_counter() - started),
                                    prediction, tags, {})
        sidecars, unexplained = self._saved(prepared, explanation, unexplained)
        try:
            written, stale = self._written(prepared, prediction, tags, sidecars)
        except Exception as e:  # noqa: BLE001 - one photo never ends the batch, even for a bug
            result = failed(prepared.path, _typed(e, prepared.path), time.perf_counter() - started)
            if sidecars and not self.dry_run and _change(prepared) is not None:
                # deleted or replaced in the instant since: its heatmap explains nothing there
                from .explain.save import discard

                discard(sidecars.values())
                sidecars = {}
            return _with_prediction(result, prediction, tags, sidecars)
        result = TagResult(
            path=prepared.path, seconds=time.perf_counter() - started,
            action=getattr(written, "action", None), target=getattr(written, "target", None),
            reason=getattr(written, "reason", None),
            changes=tuple(getattr(written, "changes", ()) or ())
            + tuple(f"remove {p} (an earlier explanation of another answer)" for p in stale),
        )
        if unexplained is not None:
            done = {None: "", "would-write": "", "unchanged": "metadata unchanged, but "}.get(
                result.action, "metadata written, but ")
            result = replace(result, error=f"{done}no explanation saved: {unexplained.reason}",
                             error_type=type(unexplained).__name__, transient=unexplained.transient)
        return _with_prediction(result, prediction, tags, sidecars)

    def _explanation(self, prepared: Prepared, prediction: Prediction) -> tuple[Any, EmowatchError | None]:
        """The explanation (None without an explainer), or why there is none."""
        if self.explainer is None:
            return None, None
        try:
            return self.explainer.explain(prepared, prediction), None
        except Exception as e:  # noqa: BLE001 - one photo never ends the batch, even for a bug
            return None, _typed(e, prepared.path)

    def _saved(self, prepared: Prepared, explanation: Any,
               unexplained: EmowatchError | None) -> tuple[dict[str, Path], EmowatchError | None]:
        """The explanation's sidecars, or why there are none."""
        if explanation is None:
            return {}, unexplained
        try:
            from .explain import save_explanation

            return save_explanation(prepared.path, prepared.image, explanation, self.settings.sidecars,
                                    dry_run=self.dry_run), None
        except Exception as e:  # noqa: BLE001 - one photo never ends the batch, even for a bug
            return {}, _typed(e, prepared.path)

    def _written(self, prepared: Prepared, prediction: Prediction, tags: EmotionTags,
                 sidecars: dict[str, Path]) -> tuple[Any, list[Path]]:
        """(the metadata write's result, the explanation sidecars dropped as stale: of another
        answer, where the one just made is not, or where earlier settings put them)."""
        if not self.write:
            return None, []
        from .explain.save import drop_if_stale
        from .metadata import write_tags

        path = prepared.path
        written = write_tags(path, tags, settings=self.settings, exiftool=self.exiftool, dry_run=self.dry_run,
                             photo=prepared.identity)
        stale = drop_if_stale(path, prediction.label, self.settings.sidecars, probability=prediction.confidence,
                              model=prediction.model, dry_run=self.dry_run, keep=sidecars.values())
        return written, stale

    # -- driver ---------------------------------------------------------------------------
    def tag(self, items: Iterable[Path | InputProblem],
            on_start: Callable[[Path], None] | None = None) -> Iterator[TagResult]:
        """Tag photos, results in input order.

        Three overlapping stages: photos are decoded ahead in worker threads, each batch runs
        through the model in this thread, and explain + write run in a second small pool (a
        durable write is mostly waiting for fsync, which a core need not sit through).
        """
        batch_size = self.settings.batch_size
        lookahead = max(2 * batch_size, 2 * self.workers)
        items = iter(items)
        pending: deque[tuple[Path, float, Future | None, InputProblem | None]] = deque()
        finishing: deque[Future] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="emowatch-decode") as decoders, \
                ThreadPoolExecutor(self.writers, thread_name_prefix="emowatch-write") as writers:
            def top_up() -> None:
                while len(pending) < lookahead:
                    item = next(items, None)
                    if item is None:
                        return
                    if isinstance(item, InputProblem):
                        pending.append((item.path, time.perf_counter(), None, item))
                    else:
                        pending.append((Path(item), time.perf_counter(), decoders.submit(self.prepare, item), None))

            def done_result(value: TagResult) -> Future:
                future: Future = Future()
                future.set_result(value)
                return future

            try:
                yield from self._stages(pending, finishing, top_up, done_result, writers, on_start)
            except KeyboardInterrupt:
                # Ctrl-C: what has not started is not started; the writes in hand finish (a write
                # is never cut short), and are reported, so that the output tells every change
                _cancel(pending)
                for future in [f for f in finishing if not f.cancel()]:
                    try:
                        yield future.result()
                    except Exception:  # noqa: BLE001 - finish() reports its own errors; a bug is logged there
                        pass
                raise
            except BaseException:  # a closed consumer: what has not started is not started
                _cancel(pending)
                for future in finishing:
                    future.cancel()
                raise

    def _stages(self, pending: deque, finishing: deque, top_up: Callable[[], None],
                done_result: Callable[[TagResult], Future], writers: ThreadPoolExecutor,
                on_start: Callable[[Path], None] | None) -> Iterator[TagResult]:
        batch_size = self.settings.batch_size
        top_up()
        while pending:
            ready: list[tuple[Prepared, float]] = []
            order: list[TagResult | int] = []  # input order: a failure now, or a place in `ready`
            while pending and len(ready) < batch_size:
                path, started, future, problem = pending.popleft()
                top_up()
                if on_start is not None:
                    on_start(path)
                if problem is not None:
                    order.append(failed(path, problem.error, given=problem.given))
                    continue
                try:
                    ready.append((future.result(), started))
                    order.append(len(ready) - 1)
                except Exception as e:  # noqa: BLE001 - one photo never ends the batch
                    order.append(failed(path, _typed(e, path), time.perf_counter() - started))
            inferred = self._infer_batch(ready)
            for item in (slot if isinstance(slot, TagResult) else inferred[slot] for slot in order):
                if isinstance(item, TagResult):
                    finishing.append(done_result(item))
                else:
                    finishing.append(writers.submit(self.finish, item[0], item[2], item[1]))
            # hand back what is complete; keep at most one batch in the writers' hands
            while finishing and (finishing[0].done() or len(finishing) > batch_size):
                yield _next_result(finishing)
        while finishing:
            yield _next_result(finishing)

    def _infer_batch(self, ready: list[tuple[Prepared, float]]) -> list[tuple[Prepared, float, Prediction] | TagResult]:
        """Each photo's prediction, or its failure, in order. A batch the model refuses is run
        again photo by photo, so one photo it cannot score (NaN) fails alone."""
        if not ready:
            return []
        try:
            predictions = self.infer([p for p, _ in ready])
        except EmowatchError as e:
            if len(ready) == 1:
                prepared, started = ready[0]
                return [failed(prepared.path, e, time.perf_counter() - started)]
            return [item for one in ready for item in self._infer_batch([one])]
        return [(p, started, pred) for (p, started), pred in zip(ready, predictions)]


def _cancel(pending: deque) -> None:
    """Cancel the decoding of photos that were not started (their futures)."""
    for _, _, future, _ in pending:
        if future is not None:
            future.cancel()


def _next_result(finishing: deque[Future]) -> TagResult:
    """The first result, waited for before it leaves the queue: a Ctrl-C during the wait
    leaves it there, to be reported."""
    result = finishing[0].result()
    finishing.popleft()
    return result


def _change(prepared: Prepared) -> str | None:
    """"vanished" or "changed" when the file at the photo's path is gone or no longer the one
    that was decoded; None when it is (or when that cannot be told: the write re-checks)."""
    if prepared.identity is None:
        return None
    try:
        return None if identity(prepared.path) == prepared.identity else "changed"
    except FileChangedError:
        return "vanished"
    except OSError:
        return None


def _typed(error: Exception, path: Path) -> EmowatchError:
    """An EmowatchError as it is; anything else (a bug) as an UnexpectedError naming it, logged
    with its traceback for a bug report."""
    if isinstance(error, EmowatchError):
        return error
    log.error("unexpected error on %s", path, exc_info=error)
    return UnexpectedError(f"unexpected {type(error).__name__}: {error}", path)


def sweep_leftovers(items: Iterable[Path | InputProblem], older_than_s: float = 60.0,
                    sidecars: SidecarSettings | None = None) -> list[Path]:
    """Remove temp files an earlier crash left beside these photos (and, given `sidecars`, in
    the folders their explanation sidecars go to).

    Only files older than a minute: a daemon or a second `emowatch tag` may have a write of its
    own under way in the same folder.
    """
    from .atomic import sweep_temp_files

    photos = [Path(item) for item in items if not isinstance(item, InputProblem)]
    folders = {photo.parent for photo in photos}
    if sidecars is not None:
        folders |= {sidecar_path(photo, KINDS[0], sidecars).parent for photo in photos}
    removed: list[Path] = []
    for folder in sorted(folders):
        try:
            removed += sweep_temp_files(folder, older_than_s=older_than_s)
        except OSError:
            continue  # an unreadable folder: its photos will report their own errors
    return removed


def untag_photo(item: Path | InputProblem, settings: Settings, *, exiftool: Any = None,
                dry_run: bool = False) -> TagResult:
    """Remove what emowatch wrote to one photo: keywords, values, XMP and explanation sidecars."""
    if isinstance(item, InputProblem):
        return failed(item.path, item.error, given=item.given)
    started = time.perf_counter()
    try:
        from .metadata import remove_tags

        written = remove_tags(item, settings=settings, exiftool=exiftool, dry_run=dry_run)
    except Exception as e:  # noqa: BLE001 - one photo never ends the batch, even for a bug
        return failed(item, _typed(e, item), time.perf_counter() - started)
    try:
        removed = remove_sidecars(item, settings.sidecars, dry_run=dry_run)
    except Exception as e:  # noqa: BLE001
        result = failed(item, _typed(e, item), time.perf_counter() - started)
        if written.written:  # the keywords are gone: say so, not only what failed after
            result = replace(result, error=f"metadata removed, but {result.error}", action=written.action,
                             target=written.target, changes=tuple(written.changes or ()))
        return result
    changes = tuple(written.changes or ()) + tuple(f"remove {p}" for p in removed)
    action = written.action
    if action == "nothing-to-remove" and removed:  # only the explanation sidecars were there
        action = "would-write" if dry_run else "removed"
    return TagResult(path=Path(item), seconds=time.perf_counter() - started, action=action,
                     target=written.target, reason=written.reason, changes=changes)


def _with_prediction(result: TagResult, prediction: Prediction, tags: EmotionTags,
                     sidecars: dict[str, Path]) -> TagResult:
    keywords = ((tags.hierarchical,) + tags.flat) if tags.keyword else ()
    return replace(
        result, label=prediction.label, confidence=prediction.confidence,
        probabilities=dict(prediction.probabilities), uncertain=tags.uncertain,
        keywords=keywords, sidecars=sidecars, model=prediction.model,
    )
