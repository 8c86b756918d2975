"""Long-lived exiftool processes (`-stay_open True -@ -`), shared by threads, never one per file.

`Exiftool` is one process that runs one command at a time; `ExiftoolPool` hands each command to
an idle one of a few, so that the tagger's writer threads do not queue behind each other.

Starting exiftool costs ~0.2 s of Perl start-up; a command in a running process costs a few ms.
Each command is the argument lines, then `-echo4 {status=${status}}{readyN}` and `-executeN`:
exiftool answers `{readyN}` on stdout and the echo (with its exit status) on stderr when done,
so both pipes are read up to their marker and a command's output never mixes with the next.
Both pipes are read together (selectors), so a chatty stderr cannot dead-lock a large stdout.
"""

from __future__ import annotations

import json
import os
import queue
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Self

from .errors import ExiftoolDiedError, ExiftoolError, ExiftoolMissingError

# -common_args go after every command's own arguments
COMMON_ARGS = ("-charset", "filename=utf8", "-api", "LargeFileSupport=1")


@dataclass(frozen=True)
class ExiftoolResult:
    status: int  # exiftool's exit status for this command: 0 ok, 1 error, 2 all -if failed
    stdout: bytes
    stderr: str

    @property
    def errors(self) -> list[str]:
        return _messages(self.stderr, "Error")

    @property
    def warnings(self) -> list[str]:
        return _messages(self.stderr, "Warning")


def _messages(stderr: str, kind: str) -> list[str]:
    # "Error: File not found - /abs/path": the path is already on our error, drop it here
    out = []
    for line in stderr.splitlines():
        if line.startswith(kind):
            msg = line.split(":", 1)[1].strip()
            head, sep, tail = msg.rpartition(" - ")
            out.append(head if sep and tail.startswith("/") else msg)
    return out


class ExiftoolCommands:
    """What emowatch asks exiftool, over any `execute`; a context manager that closes it."""

    @classmethod
    def find(cls, path: str = "exiftool", **options: Any) -> "Self | None":
        """Running exiftool, or None when it is not installed (other failures raise)."""
        try:
            return cls(path, **options)
        except ExiftoolMissingError:
            return None

    def __enter__(self) -> "Self":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def execute(self, *args: str, timeout: float | None = None) -> ExiftoolResult:
        raise NotImplementedError

    def read_json(self, path: Path, *tags: str) -> dict[str, Any]:
        """Tags of one file as exiftool's JSON (`-G1 -a`), group-qualified keys; {} if none.

        Numbers stay the text exiftool printed (a keyword "1.50" is not the float 1.5).
        """
        res = self.execute("-j", "-G1", "-a", *tags, _arg_path(path))
        if res.status != 0 or res.errors:
            raise ExiftoolError("; ".join(res.errors) or "cannot read metadata", path)
        text = res.stdout.decode("utf-8", "replace").strip()
        if not text:
            return {}
        try:
            return json.loads(text, parse_int=str, parse_float=str)[0]
        except (ValueError, IndexError):
            raise ExiftoolError("exiftool's answer was not valid JSON", path) from None

    def read_xmp(self, path: Path) -> bytes:
        """The file's XMP packet exactly as stored (empty when it has none)."""
        res = self.execute("-b", "-XMP", _arg_path(path))
        if res.status != 0 or res.errors:
            raise ExiftoolError("; ".join(res.errors) or "cannot read XMP", path)
        return res.stdout

    def write_in_place(self, path: Path, args: Iterable[str]) -> ExiftoolResult:
        """Apply tag assignments to `path`, which must be emowatch's own temp copy.

        exiftool writes `path_exiftool_tmp` and renames it over `path`; it never fsyncs and
        replaces symlinks, which is why callers only ever point it at a private copy.
        """
        res = self.execute(*args, "-overwrite_original", _arg_path(path))
        if res.status != 0 or res.errors:
            raise ExiftoolError("; ".join(res.errors) or "exiftool could not write the file", path)
        return res


class Exiftool(ExiftoolCommands):
    """A running exiftool; use as a context manager, or call close().

    Thread-safe: one command at a time (a lock); a process that dies is restarted on the next
    command. Paths are passed absolute, so a file named `-foo.jpg` is never read as an option.
    """

    def __init__(self, executable: str = "exiftool", *, timeout: float = 120.0):
        found = shutil.which(executable)
        if found is None:
            raise ExiftoolMissingError()
        self.executable = found
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._counter = 0
        self._closed = False
        self.version = self.execute("-ver").stdout.decode("ascii", "replace").strip()
        if not re.fullmatch(r"\d+\.\d+", self.version):
            self.close()
            raise ExiftoolError(f"{found} does not look like exiftool (it answered {self.version!r})")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # -- commands -------------------------------------------------------------------------

    def execute(self, *args: str, timeout: float | None = None) -> ExiftoolResult:
        """Run one exiftool command (its arguments, as on a command line) and return its result."""
        lines = "".join(_arg_line(a) for a in args)
        with self._lock:
            if self._closed:  # a process started now would outlive its owner's clean-up
                raise ExiftoolError("exiftool was already closed")
            if self._proc is None or self._proc.poll() is not None or self._ended():
                self._start()
            self._counter += 1
            n = self._counter
            payload = lines + f"-echo4\n{{status=${{status}}}}{{ready{n}}}\n-execute{n}\n"
            # a file name that is not UTF-8 (os.fsencode's surrogates) goes as its own bytes
            data = payload.encode("utf-8", "surrogateescape")
            try:
                return self._communicate(data, n, timeout or self.timeout)
            except BaseException:
                # interrupted mid-answer (Ctrl-C, a signal): its unread output would be taken
                # for the next command's, so this process is done
                self._stop()
                raise

    # -- the process ----------------------------------------------------------------------

    def _start(self) -> None:
        self._stop()
        # A terminal's Ctrl-C goes to the whole foreground process group. exiftool must not die
        # of it: emowatch finishes the photo in hand, then closes exiftool itself. The child
        # inherits this thread's blocked-signal mask; it stays in our process group, so a
        # signal sent to the group (and a closed terminal) still reaches it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self._proc = subprocess.Popen(
                _command([self.executable, "-stay_open", "True", "-@", "-", "-common_args", *COMMON_ARGS]),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=0, close_fds=True,
            )
        except OSError as e:
            self._proc = None
            raise ExiftoolError(f"cannot start {self.executable}: {e.strerror or e}") from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.stdin.write(b"-stay_open\nFalse\n")
                proc.stdin.flush()
                # and end its input: the relay's `cat` (see _RELAY) waits for that, not for the
                # stop line, and the process would be waited for in vain until the timeout
                proc.stdin.close()
                proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    pipe.close()
                except OSError:
                    pass

    def _ended(self) -> bool:
        """Whether exiftool ended since its last command (killed, say): its output is then at
        end of file. Any output between commands also means it is not in step any more."""
        proc = self._proc
        assert proc is not None and proc.stdout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            return bool(sel.select(0))

    def _communicate(self, payload: bytes, n: int, timeout: float) -> ExiftoolResult:
        proc = self._proc
        assert proc is not None and proc.stdin and proc.stdout and proc.stderr
        try:
            proc.stdin.write(payload)
            proc.stdin.flush()
        except OSError:
            self._stop()
            raise ExiftoolDiedError("exiftool exited unexpectedly") from None
        out, err = bytearray(), bytearray()
        out_marker = f"{{ready{n}}}\n".encode()
        err_re = re.compile(rb"\{status=(\d+)\}\{ready%d\}\n$" % n)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, out)
            sel.register(proc.stderr, selectors.EVENT_READ, err)
            while not (out.endswith(out_marker) and err_re.search(err)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._kill()
                    raise ExiftoolDiedError(f"exiftool did not answer within {timeout:.0f} s")
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        self._kill()
                        said = err.decode("utf-8", "replace").strip()[-300:]
                        raise ExiftoolDiedError("exiftool exited unexpectedly" + (f": {said}" if said else ""))
                    key.data.extend(chunk)
        m = err_re.search(err)
        assert m is not None
        return ExiftoolResult(
            status=int(m.group(1)),
            stdout=bytes(out[: -len(out_marker)]),
            stderr=err[: m.start()].decode("utf-8", "replace"),
        )

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()  # the relay passes it on to exiftool (see _RELAY)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                try:
                    pipe.close()
                except OSError:
                    pass


# exiftool -stay_open never ends by itself: at the end of its input it sleeps and reads again, so
# an emowatch killed with -9 would leave it polling forever. Where there is a POSIX shell, its
# input is relayed through `cat`; when our end of the pipe closes for any reason, cat ends and
# the shell tells exiftool to stop. Only exiftool keeps our output pipes (the shell closes its
# own copies, cat's go elsewhere), so that its death is their end of file at once, not a wait
# for the timeout. (A background list reads /dev/null unless told: stdin is handed over as fd 3.)
# SIGTERM to the shell ends exiftool too: a hung one is not left running when it is given up.
_RELAY = ('exec 3<&0; { cat <&3; printf -- "-stay_open\\nFalse\\n"; } 2>/dev/null | "$@" 3<&- & '
          'pid=$!; trap \'kill -9 $pid 2>/dev/null; exit 143\' TERM; exec 0<&- 1>&- 2>&- 3<&-; wait')


def _command(argv: list[str]) -> list[str]:
    if os.name == "posix" and shutil.which("sh") and shutil.which("cat"):
        return ["sh", "-c", _RELAY, "exiftool-relay", *argv]
    return argv


def _arg_line(arg: str) -> str:
    """One line of exiftool's argument file; a line break (a file may be named so) goes as a
    C-string line, which exiftool unescapes."""
    if "\n" not in arg and "\r" not in arg:
        return arg + "\n"
    if "$" in arg or "@" in arg:  # exiftool 12.57 keeps a backslash before these in a C string
        raise ExiftoolError(f"exiftool cannot be given an argument with both a line break and "
                            f"'$' or '@': {arg!r}")
    escaped = arg.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "#[CSTR]" + escaped + "\n"


def _arg_path(path: Path) -> str:
    return os.path.abspath(os.fspath(path))


class ExiftoolPool(ExiftoolCommands):
    """Up to `size` running exiftools for threads that write at once (the tagger's writers):
    each command goes to an idle one, and a further process starts only when every one is
    busy. With one process, writes of exiftool-written formats queue behind each other while
    cores stand idle."""

    def __init__(self, executable: str = "exiftool", *, size: int = 2, timeout: float = 120.0):
        first = Exiftool(executable, timeout=timeout)  # ExiftoolMissingError, ExiftoolError
        self.executable, self.version, self.timeout = first.executable, first.version, timeout
        self.size = max(1, size)
        self._all = [first]
        self._idle: queue.LifoQueue[Exiftool] = queue.LifoQueue()
        self._idle.put(first)
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for tool in self._all:
                tool.close()

    @property
    def pids(self) -> list[int]:
        return [pid for tool in self._all if (pid := tool.pid) is not None]

    @property
    def busy(self) -> int:
        """How many of its processes are running a command now."""
        return len(self._all) - self._idle.qsize()

    def execute(self, *args: str, timeout: float | None = None) -> ExiftoolResult:
        tool = self._take()
        try:
            return tool.execute(*args, timeout=timeout)
        finally:
            self._idle.put(tool)

    def _take(self) -> Exiftool:
        if self._closed:  # a process started now would outlive its owner's clean-up
            raise ExiftoolError("exiftool was already closed")
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise ExiftoolError("exiftool was already closed")
            if len(self._all) < self.size:
                tool = Exiftool(self.executable, timeout=self.timeout)
                self._all.append(tool)
                return tool
        tool = self._idle.get()  # wait for one to be free
        if self._closed:  # closed meanwhile: the process that came free is being closed, its
            self._idle.put(tool)  # command must not slip in before (close waits for its lock)
            raise ExiftoolError("exiftool was already closed")
        return tool
