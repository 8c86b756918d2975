"""The work: decode in worker threads -> batched inference -> explain + write -> ledger.

    Intake --decode x N--> Buffer --infer x 1--> Buffer --finish x M--> ledger + event

Each arrow is bounded, so a 100,000-photo backfill holds a few dozen paths and at most
`prepared + finishing` decoded photos in memory. Live arrivals go first at every stage, so a
new photo does not wait behind the backlog. Inference takes what is ready (up to batch_size
and never more than the finish stage has room for): on a CPU batching does not pay and the
explanation (~1 s) is the slow stage; on a GPU the batches fill up by themselves.

Outcomes: success -> the ledger records the file's *post-write* stamp and fingerprint;
a transient error (or a file that changed under us) -> back to the settler with backoff,
up to max_attempts; anything else -> recorded as failed once. An unexpected exception in a
stage fails that photo, never the daemon.

Stopping: new work is refused and queued photos are dropped (nothing was written for them;
the next start finds them again); a photo in the middle of being written is finished and
recorded if it succeeds (a failure while stopping is not recorded: the next start retries it).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from ..atomic import open_for_writing
from ..errors import BusyError, EmowatchError
from ..tagging import TagResult, Tagger
from .clock import SYSTEM_CLOCK, Clock
from .events import FAILED, RETRY, SKIPPED, TAGGED, VANISHED, WORKING, DaemonEvent
from .fingerprint import Stamp, fingerprint
from .picture import image_digest
from .gate import Gate
from .ledger import Ledger
from .queues import Buffer, Intake, Job
from .threads import Worker

log = logging.getLogger("emowatch.daemon")
MAX_BACKOFF = 60.0
WROTE = frozenset({"embedded", "exiftool"})  # result actions that changed the photo itself


class Pipeline:
    def __init__(self, tagger: Tagger, gate: Gate, ledger: Ledger, intake: Intake, *,
                 emit: Callable[[DaemonEvent], None], retry: Callable[[str, float, int], None],
                 max_attempts: int, backoff: float, clock: Clock = SYSTEM_CLOCK,
                 decode_workers: int = 2, finish_workers: int = 2, batch_size: int = 16,
                 on_crash: Callable[[str, BaseException], None] | None = None):
        self.tagger, self.gate, self.ledger, self.intake = tagger, gate, ledger, intake
        self.emit, self.retry = emit, retry
        self.max_attempts, self.backoff = max(1, max_attempts), backoff
        self.clock = clock
        self._stopping = False
        self.batch_size = max(1, batch_size)
        # just enough to keep the next stage busy: each queued photo holds its decoded image
        # (9 MB for a 12 MP photo that gets a heatmap)
        self.prepared: Buffer[Job] = Buffer(max(2, min(self.batch_size, decode_workers)))
        self.finishing: Buffer[Job] = Buffer(max(2, min(self.batch_size, finish_workers)))
        self.workers: list[Worker] = (
            [_Stage(f"emowatch-decode-{i}", self._decode_step, on_crash) for i in range(decode_workers)]
            + [_Stage("emowatch-infer", self._infer_step, on_crash)]
            + [_Stage(f"emowatch-finish-{i}", self._finish_step, on_crash) for i in range(finish_workers)]
        )

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        for w in self.workers:
            w.start()

    def stop(self) -> None:
        self._stopping = True
        self.intake.close()
        for job in self.prepared.close() + self.finishing.close():
            self.intake.done(job.path)
        for w in self.workers:
            w.stop()

    @property
    def in_memory(self) -> int:
        return len(self.prepared) + len(self.finishing)

    # -- stages ----------------------------------------------------------------------------------
    def _decode_step(self, stage: Worker) -> None:
        job = self.intake.get(timeout=0.25)
        if job is None:
            return
        try:
            verdict = self.gate.check(job.path)
            if not verdict.work:
                kind = VANISHED if verdict.reason == "vanished" else SKIPPED
                self._emit(kind, job, reason=verdict.reason)
                self.intake.done(job.path)
                return
            job.verdict, job.started = verdict, time.perf_counter()
            self._emit(WORKING, job)
            job.prepared = self.tagger.prepare(job.path)
        except EmowatchError as e:
            self._fail(job, e.reason, type(e).__name__, e.transient)
            return
        except Exception as e:  # noqa: BLE001 - a bug or an odd file fails the photo, not the daemon
            log.exception("decoding %s", job.path)
            self._fail(job, f"unexpected error: {e}", type(e).__name__, False)
            return
        if not self.prepared.put(job, job.live):
            self.intake.done(job.path)  # stopping

    def _infer_step(self, stage: Worker) -> None:
        room = self.finishing.room(timeout=0.25)
        if not room:
            return
        jobs = self.prepared.take(min(self.batch_size, room), timeout=0.25)
        if not jobs:
            return
        try:
            predictions = self.tagger.infer([j.prepared for j in jobs])
        except Exception as e:  # noqa: BLE001 - ModelError, or anything the runtime throws
            transient = getattr(e, "transient", False)
            for j in jobs:
                self._fail(j, getattr(e, "reason", str(e)), type(e).__name__, transient)
            return
        for job, prediction in zip(jobs, predictions):
            job.prediction = prediction
            if not self.finishing.put(job, job.live):
                self.intake.done(job.path)  # stopping

    def _finish_step(self, stage: Worker) -> None:
        jobs = self.finishing.take(1, timeout=0.25)
        if not jobs:
            return
        job = jobs[0]
        try:
            result = self.tagger.finish(job.prepared, job.prediction, job.started)
        except Exception as e:  # noqa: BLE001 - finish() reports EmowatchErrors itself
            log.exception("writing %s", job.path)
            result = TagResult(path=job.prepared.path, error=f"unexpected error: {e}", error_type=type(e).__name__)
        job.prepared = job.prediction = None  # the decoded photo is not needed any more
        if result.ok:
            self._succeed(job, result)
        else:
            self._fail(job, result.error or "failed", result.error_type, result.transient, result)

    # -- outcomes --------------------------------------------------------------------------------
    def _succeed(self, job: Job, result: TagResult) -> None:
        try:
            try:
                stamp, fp = Stamp.of(job.path), fingerprint(job.path)
            except OSError:
                self._emit(VANISHED, job)
                return
            self.ledger.record_done(job.path, stamp, fp, model=result.model, label=result.label,
                                    confidence=result.confidence, uncertain=result.uncertain,
                                    keywords=result.keywords, action=result.action, attempts=job.attempt,
                                    seconds=result.seconds, image=image_digest(job.path))
            self._emit(TAGGED, job, result=result, latency=self.clock.time() - job.seen)
        finally:
            self.intake.done(job.path)

    def _fail(self, job: Job, error: str, error_type: str | None, transient: bool,
              result: TagResult | None = None) -> None:
        retry: tuple[float, int] | None = None
        try:
            retry = self._record_failure(job, error, error_type, transient, result)
        finally:
            self.intake.done(job.path)
        if retry is not None:
            self.retry(job.path, *retry)

    def _record_failure(self, job: Job, error: str, error_type: str | None, transient: bool,
                        result: TagResult | None) -> tuple[float, int] | None:
        """Record the failure, or return (the delay after which to try again, the attempt)."""
        if self._stopping:
            # a Ctrl-C in a terminal reaches exiftool too: a failure now says nothing about the
            # photo, so it is left unrecorded for the next start to do
            return None
        if error_type == BusyError.__name__ and open_for_writing(job.path):
            # another program opened the photo for writing after it settled: not the photo's
            # failure; the settler waits for the writer (attempts are not spent on it). Held
            # was something else (its .xmp sidecar), or only for a moment: an ordinary retry
            self._emit(RETRY, job, reason=error, delay=self.backoff)
            return self.backoff, job.attempt
        try:
            stamp = Stamp.of(job.path)
        except OSError:
            self._emit(VANISHED, job, reason=error)
            return None
        verdict = job.verdict
        # a file that changed while we worked on it (still being written, replaced) is retried;
        # not one we wrote ourselves (its keywords are in, only its explanation failed)
        wrote = result is not None and result.action in WROTE
        moved_on = (verdict is not None and verdict.stamp is not None and stamp != verdict.stamp
                    and not wrote)
        if (transient or moved_on) and job.attempt < self.max_attempts:
            delay = min(MAX_BACKOFF, self.backoff * 2 ** (job.attempt - 1))
            self._emit(RETRY, job, reason=error, delay=delay)
            return delay, job.attempt + 1
        try:
            known = verdict is not None and verdict.fingerprint and not (moved_on or wrote)
            fp = verdict.fingerprint if known else fingerprint(job.path)
        except FileNotFoundError:
            self._emit(VANISHED, job, reason=error)
            return None
        except OSError:
            fp = ""  # unreadable: no fingerprint, recorded all the same (`--retry-failed` once fixed)
        model = self.tagger.model.info.id
        seconds = time.perf_counter() - job.started if job.started else None
        self.ledger.record_failed(job.path, stamp, fp, model=model, error=error, error_type=error_type,
                                  attempts=job.attempt, seconds=seconds)
        if result is None:
            result = TagResult(path=Path(job.path), error=error, error_type=error_type,
                               transient=transient, model=model, seconds=seconds or 0.0)
        self._emit(FAILED, job, result=result, reason=error, latency=self.clock.time() - job.seen)
        return None

    def _emit(self, kind: str, job: Job, **fields: Any) -> None:
        self.emit(DaemonEvent(kind, self.clock.time(), path=job.path, live=job.live, attempt=job.attempt,
                              **fields))


class _Stage(Worker):
    def __init__(self, name: str, step: Callable[[Worker], None],
                 on_crash: Callable[[str, BaseException], None] | None):
        super().__init__(name, on_crash)
        self._step = step

    def run_step(self) -> None:
        self._step(self)
