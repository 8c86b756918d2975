"""Typed errors raised by the core; the CLI and the daemon turn them into one line each.

Every error carries a short message that is complete on its own: what failed, on which file,
and, where a user can act, what to do. `transient` tells the daemon whether retrying can help.
"""

from __future__ import annotations

import copy
from pathlib import Path


class EmowatchError(Exception):
    """Base of every error emowatch raises on purpose."""

    transient = False

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        self.reason = message
        # a str is shown as given: Path("nosuch/") would drop the "/" the user typed
        super().__init__(f"{path}: {message}" if path is not None else message)


def about_sidecar(error: EmowatchError, sidecar: Path | str, photo: Path | str) -> EmowatchError:
    """The same error, told of the photo whose .xmp sidecar it is about ("A.CR2: its sidecar
    A.xmp is read-only", not "A.CR2: file is read-only", which blamed the raw file)."""
    told = copy.copy(error)
    told.reason = f"its sidecar {Path(sidecar).name}: {error.reason}"
    told.path = Path(photo)
    told.args = (f"{told.path}: {told.reason}",)
    return told


class ConfigError(EmowatchError):
    """Settings that cannot be used: a bad TOML file, an unknown key, a value out of range."""


class ModelError(EmowatchError):
    """A model file that is missing, corrupt, or not an emowatch model."""


class RuntimeMissingError(ModelError):
    """ONNX Runtime is not installed."""


class InputError(EmowatchError):
    """A path given on the command line that is not there or not a photo."""


class DecodeError(EmowatchError):
    """A photo that cannot be decoded: empty, truncated, not an image, too large."""


class UnsupportedFormatError(DecodeError):
    """A file type emowatch does not read or write."""


class MetadataError(EmowatchError):
    """Metadata that cannot be parsed or written: a broken XMP packet, one too large."""


class WriteError(EmowatchError):
    """A write to a user's file that was refused or could not be completed safely."""


class FileChangedError(WriteError):
    """The file changed (or vanished) between reading it and replacing it; retrying can help."""

    transient = True


class BusyError(FileChangedError):
    """Another program has the file open for writing: it is not replaced under that program
    (the daemon waits for it to finish, without counting it as a failed attempt)."""


class ReadOnlyError(WriteError):
    """The file or its folder is not writable; emowatch reports it and does not force it."""


class HardLinkError(WriteError):
    """The file has several hard links; replacing it would split them, so it is skipped."""


class ExiftoolError(MetadataError):
    """exiftool failed on a file, or could not be started."""


class ExiftoolDiedError(ExiftoolError):
    """exiftool ended or hung in the middle of a command (killed, out of memory): the file is
    as it was, and a fresh exiftool may well succeed, so retrying can help."""

    transient = True


class ExiftoolMissingError(ExiftoolError):
    """exiftool is not installed."""

    def __init__(self, message: str | None = None):
        super().__init__(
            message
            or "exiftool is not installed; on Debian/Ubuntu: sudo apt-get install libimage-exiftool-perl"
        )


class ExplainError(EmowatchError):
    """An explanation that could not be computed."""


class OutputError(EmowatchError):
    """emowatch's own output (the results on stdout) cannot be written: a full disk, say."""


class LedgerError(EmowatchError):
    """The daemon's ledger cannot be opened or is locked by another daemon."""


class IncompleteFileError(DecodeError):
    """A photo that is still being written (growing, no end marker yet); retrying can help."""

    transient = True


class UnexpectedError(EmowatchError):
    """A fault emowatch did not foresee while working on one photo (a bug): that photo is
    reported with it, and the batch goes on."""
