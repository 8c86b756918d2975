"""Shared fixtures. Tools the tests need (exiftool, exiv2) must be there in CI: a missing one
fails the run when CI is set, and only skips on a developer's machine.

Metadata fixtures: `et` (one exiftool for the session), `pristine` (the corpus, built once),
`photo` (a fresh copy of a corpus file), `settings`, `tags`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import corpus
from emowatch.exiftool import Exiftool
from emowatch.settings import Settings
from emowatch.tags import EmotionTags


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (Debian: libimage-exiftool-perl / exiv2)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install it")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def exiftool_bin() -> str:
    return require_tool("exiftool")


@pytest.fixture(scope="session")
def exiv2_bin() -> str:
    return require_tool("exiv2")


@pytest.fixture(scope="session")
def et(exiftool_bin):
    """One running exiftool for the whole session, as the daemon would hold it."""
    with Exiftool(exiftool_bin) as tool:
        yield tool


@pytest.fixture(scope="session")
def pristine(tmp_path_factory, exiftool_bin) -> dict[str, Path]:
    """The corpus, built once; tests copy what they change."""
    return corpus.build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture
def photo(pristine, tmp_path):
    """photo("full.jpg") -> a fresh copy of that corpus file in this test's folder."""

    def make(name: str, as_name: str | None = None) -> Path:
        return corpus.copy(pristine[name], tmp_path, as_name)

    return make


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def tags() -> EmotionTags:
    return corpus.emotion()
