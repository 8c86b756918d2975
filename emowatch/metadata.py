"""Write, remove and read emowatch's tags in a photo's metadata: the public entry points.

    write_tags(path, tags, settings=..., exiftool=...)   -> WriteResult
    remove_tags(path, settings=..., exiftool=...)        -> WriteResult   (`emowatch untag`)
    read_tags(path, exiftool=...)                        -> EmotionTags | None

Each call loads where the photo's XMP lives (xmp.targets), plans the keyword lists
(xmp.emotion), builds the new packet, and - unless nothing would change, or this is a dry
run - commits it through the one atomic write. Errors are typed (emowatch.errors) and leave the
file as it was.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from . import atomic
from .errors import (EmowatchError, ExiftoolDiedError, ExiftoolError, FileChangedError, MetadataError,
                     WriteError, about_sidecar)
from .exiftool import ExiftoolCommands
from .formats import Format, sniff, written_as
from .settings import Settings
from .tags import EmotionTags
from .xmp import emotion, props, sidecar, stores
from .xmp.emotion import HIERARCHICAL, IPTC, SUBJECT, XP
from .xmp.packet import Packet, parse, serialize
from .xmp.targets import Embedded, Sidecar, Target, open_target, stored_packets

INSTALL_EXIFTOOL = "install exiftool (Debian/Ubuntu: sudo apt-get install libimage-exiftool-perl)"


@dataclass(frozen=True)
class WriteResult:
    path: Path  # the photo
    target: Path | None  # the file written (the photo, or its .xmp sidecar)
    # embedded | exiftool | sidecar | unchanged | would-write | removed | nothing-to-remove
    action: str
    reason: str = ""  # why a sidecar rather than the photo, for instance
    changes: tuple[str, ...] = ()  # what changed (or would), one line each

    @property
    def written(self) -> bool:
        return self.action in ("embedded", "exiftool", "sidecar", "removed")


def _typed_os_errors(fn):
    """An OSError on the way (an unreadable sidecar, a folder named like one, a symlink loop,
    a full /tmp) becomes a typed error on this photo, so a batch reports it and goes on."""

    @functools.wraps(fn)
    def wrapper(path: Path, *args, **kwargs):
        try:
            return fn(path, *args, **kwargs)
        except OSError as e:
            what = f" {Path(e.filename).name}" if e.filename else ""
            raise WriteError(f"cannot read or write{what}: {e.strerror or e}", path) from None

    return wrapper


@_typed_os_errors
def write_tags(path: Path, tags: EmotionTags, *, settings: Settings,
               exiftool: ExiftoolCommands | None, dry_run: bool = False,
               photo: atomic.FileIdentity | None = None, xp_writable: bool = True) -> WriteResult:
    """Write `tags` into the photo (or its sidecar): keywords and our namespace.

    Re-tagging replaces only what emowatch wrote before; tagging again with the same result
    changes nothing ("unchanged"), and the first tagged_at is kept. `photo`: the identity of
    the file the tags were made from; another file there now (replaced, rewritten while it was
    classified) gets nothing (FileChangedError). `xp_writable=False`: XPKeywords are read, not
    written (an EXIF block exiftool cannot rewrite).
    """
    path = Path(path)
    for word in (tags.parent, tags.keyword or ""):
        if "|" in word or "\n" in word or "\r" in word:
            raise MetadataError(f"keyword {word!r} cannot contain '|' or a line break", path)
    target = open_target(path, written_as(path), exiftool)
    if photo is not None:
        _still_the_photo(path, target, photo)
    target.check_writable()
    packet, created = _load(target)
    recorded = emotion.read(packet)
    _need_exiftool(target, recorded, exiftool, path)
    current = {**emotion.xmp_keywords(packet), **_other_lists(target, recorded, settings)}
    add_to = {SUBJECT, HIERARCHICAL, IPTC} | ({XP} if settings.keywords.xp_keywords and xp_writable else set())
    plan = emotion.plan(current, recorded, tags, add_to)
    old = recorded.tags
    same = old is not None and emotion.same_result(old, tags)
    # the same result keeps the time it was first written; a new one gets its own
    tagged_at = old.tagged_at if same and old and old.tagged_at else tags.tagged_at or _now()
    emotion.apply(packet, tags, plan, tagged_at=tagged_at, created=created, photo=sidecar.speaks_for(path, target.file))
    new = serialize(packet, limit=target.limit, grow=target.grow)
    lists = {s: plan.keywords[s] for s in current if s not in (SUBJECT, HIERARCHICAL)}
    if new == target.packet and _lists_unchanged(lists, current):
        result = WriteResult(path, target.file, "unchanged", target.reason)
        return _older_sidecar_cleaned(path, target.fmt, result, settings, exiftool, dry_run, quiet=True)
    changes = _describe(current, plan.keywords, target, created and target.packet is None)
    changes += (_describe_values(tags),) if not same else ()
    if plan.declined and tags.hierarchical:  # declined now (an uncertain result only carries it)
        changes += (f"{tags.hierarchical} not put back: removed by hand after emowatch wrote it",)
    reason = "; ".join(filter(None, (target.reason, _xp_left_out(target, exiftool, XP in add_to))))
    if dry_run:
        target.check_commit(new)
        result = WriteResult(path, target.file, "would-write", reason, changes)
        return _older_sidecar_cleaned(path, target.fmt, result, settings, exiftool, dry_run, quiet=True)

    def check(stored: Packet) -> None:
        back = emotion.read(stored)
        if not emotion.same_result(back.tags, tags) or emotion.xmp_keywords(stored) != {
                s: plan.keywords[s] for s in (SUBJECT, HIERARCHICAL)}:
            raise MetadataError("our values did not read back; nothing was written", path)

    try:
        target.commit(new, lists, check, settings.preserve_mtime)
    except ExiftoolError as e:
        if XP not in lists or recorded.added.get(XP) or isinstance(e, ExiftoolDiedError):
            raise
        # XPKeywords are a courtesy to Windows, which reads the XMP keywords too: an EXIF block
        # exiftool cannot rewrite (damaged by another program) does not cost the photo its tags.
        # They are still read: words only there are copied into dc:subject all the same
        result = write_tags(path, tags, settings=settings, exiftool=exiftool, photo=photo, xp_writable=False)
        why = f"XPKeywords not written: exiftool cannot rewrite this photo's EXIF ({e.reason})"
        return replace(result, reason="; ".join(filter(None, (result.reason, why))))
    result = WriteResult(path, target.file, target.kind, reason, changes)
    return _older_sidecar_cleaned(path, target.fmt, result, settings, exiftool, dry_run, quiet=True)


def _xp_left_out(target: Target, exiftool: ExiftoolCommands | None, xp: bool) -> str:
    """Why a JPEG's XPKeywords are left as they are, where they are: its EXIF is one that only
    exiftool may change (xp_keywords), and there is no exiftool."""
    if (not xp or exiftool is not None or not isinstance(target, Embedded)
            or target.fmt is not Format.JPEG or not target.lay.has_exif(target.data)
            or target.writes_xp_itself()):
        return ""
    return "XPKeywords not written: only exiftool can change them in this photo's EXIF, and it is not installed"


def _still_the_photo(path: Path, target: Target, photo: atomic.FileIdentity) -> None:
    # a photo's own target read it with its identity; a sidecar's photo is looked at here
    now = atomic.identity(path) if isinstance(target, Sidecar) else target.expect
    if now != photo:
        raise FileChangedError("file changed while it was classified; not tagged", path)


@_typed_os_errors
def remove_tags(path: Path, *, settings: Settings, exiftool: ExiftoolCommands | None,
                dry_run: bool = False) -> WriteResult:
    """Remove exactly what emowatch wrote: its keywords, its namespace, and a packet or
    sidecar it created that holds nothing else. A sidecar that was there before is cleaned,
    never deleted. A TIFF/WebP/HEIF/DNG tagged earlier without exiftool has its sidecar
    cleaned too."""
    path = Path(path)
    content = sniff(path)
    fmt = written_as(path, content)
    result = _remove(path, open_target(path, fmt, exiftool), settings, exiftool, dry_run)
    result = _older_sidecar_cleaned(path, fmt, result, settings, exiftool, dry_run)
    if fmt is Format.RAW and content in (Format.JPEG, Format.PNG):
        # JPEG/PNG bytes under a raw name: emowatch before 2026-11-29 tagged those in place
        extra = _remove(path, open_target(path, content, exiftool), settings, exiftool, dry_run)
        result = _merged(result, extra)
    return result


def _merged(result: WriteResult, extra: WriteResult) -> WriteResult:
    """What was done in a photo's main place and a second one, as one result."""
    if extra.action == "nothing-to-remove":
        return result
    if result.action == "nothing-to-remove":
        return extra
    return WriteResult(result.path, result.target, result.action, result.reason,
                       result.changes + extra.changes)


def _older_sidecar_cleaned(path: Path, fmt: Format, result: WriteResult, settings: Settings,
                           exiftool: ExiftoolCommands | None, dry_run: bool,
                           quiet: bool = False) -> WriteResult:
    """Our values live in one place per photo. Any other sidecar of ours beside it loses them
    (and goes, if we created it and it holds nothing else), so two never disagree: a
    TIFF/WebP/HEIF/DNG tagged earlier without exiftool and now written itself, or a raw file's
    `IMG.xmp` once darktable's `IMG.CR2.xmp` (which is then used) appeared. `result` is the
    main place's. `quiet` (after tagging: the photo is written, that stands): a sidecar that
    cannot be cleaned is said in the changes instead of failing the photo."""
    if fmt.embeds_xmp_natively:
        return result
    for side in sidecar.find_all(path, fmt):
        if (result.target is not None and sidecar.same_file(side, result.target)) or not _holds_ours(side):
            continue  # another program's sidecar (or nothing readable): not ours to touch
        try:
            extra = _remove(path, Sidecar(path, fmt, "", file=side), settings, exiftool, dry_run)
        except (EmowatchError, OSError) as e:
            if not quiet:
                raise
            why = e.reason if isinstance(e, EmowatchError) else (e.strerror or str(e))
            result = WriteResult(path, result.target, result.action, result.reason,
                                 result.changes + (f"the older sidecar {side.name} still holds emowatch's values: {why}",))
            continue
        if result.action == "unchanged" and extra.action in ("removed", "would-write"):
            # the keywords were already right, but an older sidecar is cleaned: a write
            result = WriteResult(path, result.target, "sidecar" if extra.action == "removed" else "would-write",
                                 result.reason, result.changes)
        result = _merged(result, extra)
    return result


def _lists_unchanged(lists: dict[str, list[str]], current: dict[str, list[str]]) -> bool:
    """IPTC keywords are a set to every reader (and exiftool may place ours anywhere in it)."""
    return all(stores.same_words(lists[s], current[s]) if s == IPTC else lists[s] == current[s]
               for s in lists)


def _holds_ours(side: Path) -> bool:
    """Whether a sidecar file holds anything emowatch wrote (False for one that cannot be read)."""
    recorded = sidecar.recorded(side)
    return recorded is not None and (recorded.tags is not None or any(recorded.added.values())
                                     or recorded.created)


def _remove(path: Path, target: Target, settings: Settings, exiftool: ExiftoolCommands | None,
            dry_run: bool) -> WriteResult:
    if target.packet is None:
        return WriteResult(path, target.file, "nothing-to-remove", target.reason)
    packet, _ = _load(target)
    recorded = emotion.read(packet)
    if recorded.tags is None and not any(recorded.added.values()) and not recorded.created:
        return WriteResult(path, target.file, "nothing-to-remove", target.reason)
    target.check_writable()
    _need_exiftool(target, recorded, exiftool, path)
    current = {**emotion.xmp_keywords(packet), **_other_lists(target, recorded, settings)}
    plan = emotion.plan(current, recorded, None, set())
    emotion.strip(packet, plan)
    drop = recorded.created and props.is_empty(packet) and target.may_drop()
    new = None if drop else serialize(packet, limit=target.limit, grow=target.grow)
    lists = {s: plan.keywords[s] for s in current if s not in (SUBJECT, HIERARCHICAL)}
    where = f"sidecar {target.file.name}" if target.kind == "sidecar" else "XMP"
    changes = _describe(current, plan.keywords, target, False)
    changes += (f"remove emowatch values ({where})",)
    if drop:
        changes += (f"remove {where}, created by emowatch",)
    if dry_run:
        target.check_commit(new)
        return WriteResult(path, target.file, "would-write", target.reason, changes)

    def check(stored: Packet) -> None:
        if emotion.read(stored).tags is not None:
            raise MetadataError("our values are still there; nothing was written", path)

    target.commit(new, lists, check, settings.preserve_mtime)
    return WriteResult(path, target.file, "removed", target.reason, changes)


@_typed_os_errors
def read_tags(path: Path, *, exiftool: ExiftoolCommands | None = None) -> EmotionTags | None:
    """What emowatch last wrote for this photo (embedded, else in its sidecar), or None."""
    path = Path(path)
    for i, data in enumerate(stored_packets(path, written_as(path), exiftool)):
        try:
            found = emotion.read(parse(data)).tags
        except MetadataError:
            if i == 0:
                raise
            continue  # a second sidecar that is not XMP (empty, another tool's): nothing of ours
        if found is not None:
            return found
    return None


# -- helpers ------------------------------------------------------------------------------


def _load(target: Target) -> tuple[Packet, bool]:
    """The packet to edit and whether emowatch created (or creates now) its container."""
    if target.packet is None:
        return target.fresh(), True
    try:
        packet = parse(target.packet)
    except MetadataError as e:
        if isinstance(target, Sidecar):
            raise about_sidecar(e, target.file, target.path) from None
        raise
    return packet, emotion.read(packet).created


def _other_lists(target: Target, recorded: emotion.Recorded,
                 settings: Settings) -> dict[str, list[str]]:
    xp = target.fmt is not Format.PNG and (settings.keywords.xp_keywords
                                            or bool(recorded.added.get(XP)))
    found = target.load_stores(xp)  # exiftool is asked only here, and only if it can matter
    return {} if found is None else found.current(xp=xp)


def _need_exiftool(target: Target, recorded: emotion.Recorded, exiftool: ExiftoolCommands | None,
                   path: Path) -> None:
    """Without exiftool, refuse what would leave IPTC or XPKeywords disagreeing with XMP."""
    if exiftool is not None or target.kind != "embedded":
        return
    if target.has_iptc:
        raise MetadataError("the photo carries IPTC keywords, and keeping them consistent with "
                            f"its XMP needs exiftool; {INSTALL_EXIFTOOL}", path)
    if recorded.added.get(IPTC) or (recorded.added.get(XP) and not target.writes_xp_itself()):
        raise MetadataError("emowatch's keywords are in this photo's IPTC keywords or XPKeywords, "
                            f"which only exiftool can change in it; {INSTALL_EXIFTOOL}", path)


def _describe(before: dict[str, list[str]], after: dict[str, list[str]], target: Target,
              new_container: bool) -> tuple[str, ...]:
    lines = []
    if new_container:
        lines.append(f"new {'sidecar' if target.kind == 'sidecar' else 'XMP packet'}"
                     + (f" {target.file.name}" if target.kind == "sidecar" else ""))
    for store in before:
        gone = [w for w in before[store] if w not in after[store]]
        new = [w for w in after[store] if w not in before[store]]
        if gone or new:
            lines.append(f"{store}: " + " ".join([f"+{w}" for w in new] + [f"-{w}" for w in gone]))
    return tuple(lines)


def _describe_values(tags: EmotionTags) -> str:
    what = "uncertain" if tags.uncertain else tags.keyword
    return (f"emowatch: {what} ({tags.label} {tags.confidence:.4f}"
            + (f", {tags.model}" if tags.model else "") + ")")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()
