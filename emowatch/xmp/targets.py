"""Where a photo's XMP lives, and how a new packet gets there safely.

- Embedded (JPEG, PNG): our own splice, built in memory. A JPEG's XPKeywords are written here
  too (xp_keywords), unless it carries IPTC keywords: when those must change, exiftool edits
  the IPTC and EXIF blocks on our temp file, never the photo (for a JPEG, on a copy of its
  header alone when it can: jpeg_head). A JPEG whose maker note points past the
  bytes the splice would move (exif_pointers) has exiftool store the packet instead, which
  moves the pointer with them.
- ViaExiftool (TIFF, WebP, HEIF, DNG): exiftool stores our packet verbatim (`-XMP<=file`) into
  a private copy; the same packet code as for JPEG decides its content.
- Sidecar (raw files always; the formats above when exiftool is missing): an .xmp file.

Every write ends in atomic_write: verified temp file, original re-checked, exchanged into place.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from .. import atomic
from ..errors import (EmowatchError, ExiftoolMissingError, FileChangedError, MetadataError, WriteError,
                      about_sidecar)
from ..exiftool import ExiftoolCommands
from ..formats import Format, is_bigtiff
from . import emotion, exif_pointers, jpeg, jpeg_head, pillow_xmp, png, scratch, sidecar, stores, verify, xp_keywords
from .emotion import LABEL, XMP_TAGS, XP
from .packet import END, Packet, new_packet, parse

CheckPacket = Callable[[Packet], None]
# properties that must not live in a JPEG's extended XMP for us to splice its main packet
TOUCHED = (*XMP_TAGS.values(), LABEL)


class _InPhoto:
    """A target whose packet lives inside the photo itself (not in a sidecar)."""

    path: Path

    def fresh(self) -> Packet:
        return new_packet()

    def may_drop(self) -> bool:
        return True

    def check_writable(self) -> None:
        atomic.check_writable(self.path)

    def check_commit(self, packet: bytes | None) -> None:
        """Raise what `commit(packet, ...)` would refuse for want of a tool, writing nothing
        (for --dry-run)."""

    def load_stores(self, xp: bool) -> stores.Stores | None:
        """The keyword lists outside XMP (`xp`: XPKeywords are to be kept in step)."""
        return self.stores


class Embedded(_InPhoto):
    """A JPEG or PNG whose XMP emowatch splices itself."""

    kind = "embedded"
    reason = ""
    grow = 2048

    def __init__(self, path: Path, fmt: Format, exiftool: ExiftoolCommands | None):
        self.path, self.fmt, self.exiftool = Path(path), fmt, exiftool
        self.file = self.path
        self.real = atomic.resolve(path)
        self.data, self.expect = atomic.read_with_identity(path)
        if fmt is Format.JPEG:
            self.lay = jpeg.layout(self.data, path)
            self.packet = jpeg.read_packet(self.data, self.lay)
            jpeg.check_extended(self.data, self.lay, self.packet, TOUCHED)
            self.has_iptc = jpeg.has_iptc_keywords(self.data, self.lay)
            self.limit: int | None = jpeg.MAX_PACKET
        else:
            self.chunks = png.chunks(self.data, path)
            self.packet = png.read_packet(self.data, self.chunks)
            self.has_iptc = png.has_iptc(self.data, self.chunks)
            self.limit = None
        self.stores: stores.Stores | None = None
        self.info: dict = {}
        self.native_xp = False  # self.stores read here, XPKeywords written here (xp_keywords)
        self._ifd0: list[xp_keywords.Ifd0 | None] = []

    def writes_xp_itself(self) -> bool:
        """Whether this JPEG's XPKeywords are read and written without exiftool: it has no
        IPTC (Photoshop) block, which exiftool keeps in step, one EXIF block whose IFD0 reads
        with certainty and has room, no multi-picture index before it (its offsets would
        move), and no maker-note pointer past the image data (exiftool moves those)."""
        if not self._ifd0:
            self._ifd0.append(self._native_ifd0())
        return self._ifd0[0] is not None

    def _native_ifd0(self) -> xp_keywords.Ifd0 | None:
        if self.fmt is not Format.JPEG or self.lay.has_photoshop(self.data):
            return None
        exifs = self.lay.exifs(self.data)
        if len(exifs) != 1 or any(s.start < exifs[0].end for s in self.lay.mpf(self.data)):
            return None  # (two EXIF blocks: which one a reader takes is its own choice)
        seg = exifs[0]
        block = seg.payload(self.data)[len(jpeg.EXIF_HEADER):]
        ifd = xp_keywords.read(block)
        if ifd is None or not xp_keywords.roomy(block, ifd):
            return None
        return None if exif_pointers.pointed(self.data, self.lay) else ifd

    def load_stores(self, xp: bool) -> stores.Stores | None:
        """The lists as exiftool reads them, read once and only where they can matter: IPTC
        lives only in APP13 and XPKeywords only in EXIF, and XPKeywords matter only when they
        are to be kept in step (`xp`). A JPEG that `writes_xp_itself` is not given to
        exiftool at all."""
        if self.stores is None and xp and self.writes_xp_itself():
            ifd = self._ifd0[0]
            assert ifd is not None
            self.stores = stores.Stores(iptc=(), xp=ifd.xp, has_ifd0=bool(ifd.entries), digest_in_sync=False)
            self.native_xp = True
        if self.stores is None and self.exiftool is not None and (
                self.fmt is Format.PNG or self.lay.has_photoshop(self.data)
                or (xp and self.lay.has_exif(self.data))):
            self.info = self.exiftool.read_json(self.real)  # also the baseline to verify against
            self.stores = stores.parse(self.info)
            _unchanged_since(self.path, self.expect)
        return self.stores

    def commit(self, packet: bytes | None, lists: dict[str, list[str]], check: CheckPacket,
               preserve_mtime: bool) -> None:
        jpg = self.fmt is Format.JPEG
        # a maker note pointing past the bytes our splice would move: exiftool stores the packet
        # and moves the pointer along
        xmp_by_exiftool = jpg and self._splice_would_strand_a_pointer(packet)
        xp_text = self._native_xp_text(lists)
        xp_edit = None if xp_text is None else xp_keywords.exif_edit(self.data, self.lay, xp_text, self.path)
        if xmp_by_exiftool:
            new = self.data if xp_edit is None else jpeg.join_all(self.data, [xp_edit])
        elif jpg:
            new = jpeg.splice(self.data, self.lay, packet, also=xp_edit)  # one copy of the file for both
        else:
            new = png.splice(self.data, self.chunks, packet)
        by_exiftool = self.stores is not None and not self.native_xp
        edits = stores.args(self.stores, lists, self.path) if by_exiftool else []
        digest = stores.digest_args(self.stores, edits) if by_exiftool else []
        et = self.exiftool

        def edit(file: Path) -> None:
            assert et is not None
            if xmp_by_exiftool:
                with scratch.folder("xmp") as work:
                    et.write_in_place(file, [_store_packet(work, packet), *edits])
            else:
                et.write_in_place(file, edits)
            if digest:
                et.write_in_place(file, digest)

        def writer(tmp: Path) -> None:
            got = None
            # exiftool edits the header alone, when it can
            if jpg and not xmp_by_exiftool and not jpeg_head.whole_file_needed(self.data, self.lay, self.info):
                got = jpeg_head.edited(new, jpeg.layout(new, self.path), edit)
            with open(tmp, "xb") as f:
                f.write(new if got is None else got)
            if got is None:
                edit(tmp)

        def check_bytes(got: bytes) -> None:
            if jpg:
                lay = jpeg.layout(got, self.path)
                if edits or xmp_by_exiftool:
                    extra: tuple[bytes, ...] = (jpeg.EXIF_HEADER, jpeg.PHOTOSHOP_HEADER)
                else:  # the EXIF only where emowatch wrote XPKeywords into it, checked below
                    extra = (jpeg.EXIF_HEADER,) if xp_text is not None else ()
                same = jpeg.same_except(self.data, self.lay, got, lay, (jpeg.XMP_HEADER, *extra))
                if same and xp_text is not None:
                    same = xp_keywords.kept_but_keywords(self.data, self.lay, got, lay, xp_text)
                stored = jpeg.read_packet(got, lay)
            else:
                cs = png.chunks(got, self.path)
                same = (png.same_image_data(self.data, self.chunks, got, cs)
                        if edits else png.same_except_xmp(self.data, self.chunks, got, cs))
                stored = png.read_packet(got, cs)
            if not same:
                raise MetadataError("image data or other metadata would change; nothing was "
                                    "written", self.path)
            _check_stored(stored, packet, check, self.path)

        def verify_edited(tmp: Path) -> None:
            got = tmp.read_bytes()
            check_bytes(got)
            assert et is not None and self.stores is not None
            after = et.read_json(tmp)
            stores.check(stores.parse(after), self.stores, lists, self.path)
            _check_tags(self.info, after, self.path)
            if jpg:
                lay = jpeg.layout(got)
                _check_pointers(self.info, self.lay.scan, after, lay.scan, self.path)
                if not exif_pointers.kept(self.data, self.lay, got, lay):
                    raise MetadataError("a pointer in the EXIF (a maker note's preview) would no "
                                        "longer point at its data; nothing was written", self.path)

        def verify_written(tmp: Path) -> None:
            if os.path.getsize(tmp) != len(new):
                raise MetadataError("the temp file came out short; nothing was written", self.path)

        if edits or xmp_by_exiftool:
            atomic.atomic_write(self.path, writer, expect=self.expect,
                                preserve_mtime=preserve_mtime, verify=verify_edited)
        else:
            check_bytes(new)  # the spliced bytes, verified in memory before any write
            atomic.atomic_write(self.path, new, expect=self.expect,
                                preserve_mtime=preserve_mtime, verify=verify_written)

    def _native_xp_text(self, lists: dict[str, list[str]]) -> str | None:
        """XPKeywords' new text where emowatch writes it itself and it changes, else None."""
        if not self.native_xp or XP not in lists:
            return None
        assert self.stores is not None
        if stores.xp_words(self.stores.xp) == lists[XP]:
            return None
        return stores.xp_text(self.stores.xp, lists[XP])

    def check_commit(self, packet: bytes | None) -> None:
        if self.fmt is Format.JPEG and self.exiftool is None:
            self._splice_would_strand_a_pointer(packet)

    def _splice_would_strand_a_pointer(self, packet: bytes | None) -> bool:
        """Whether splicing `packet` in would move data that the EXIF points at from before the
        splice (exif_pointers). Then exiftool must write it: ExiftoolMissingError without it.
        Loads exiftool's listing of the file, to verify the result against."""
        at, delta = jpeg.size_change(self.data, self.lay, packet)
        # (a JPEG that writes its XPKeywords itself was found to have no such pointer at all)
        if not delta or self.native_xp or not exif_pointers.pointed(self.data, self.lay, bases_before=at):
            return False
        if self.exiftool is None:
            raise ExiftoolMissingError(
                "its maker note points at data after the image (a camera's preview), which resizing "
                "its XMP moves: only exiftool moves the pointer with it; on Debian/Ubuntu: "
                "sudo apt-get install libimage-exiftool-perl")
        if self.stores is None:
            self.info = self.exiftool.read_json(self.real)
            self.stores = stores.parse(self.info)
            _unchanged_since(self.path, self.expect)
        return True


class ViaExiftool(_InPhoto):
    """A TIFF, WebP, HEIF or DNG: exiftool stores the packet we build."""

    kind = "exiftool"
    reason = ""
    grow = 2048
    limit = None
    has_iptc = False

    def __init__(self, path: Path, fmt: Format, exiftool: ExiftoolCommands):
        self.path, self.fmt, self.exiftool = Path(path), fmt, exiftool
        self.file = self.path
        self.real = atomic.resolve(path)
        self.expect = atomic.identity(path)
        self.packet = exiftool.read_xmp(self.real) or None
        self.info = exiftool.read_json(self.real)  # also the baseline to verify against
        self.stores = stores.parse(self.info)
        _unchanged_since(path, self.expect)

    def commit(self, packet: bytes | None, lists: dict[str, list[str]], check: CheckPacket,
               preserve_mtime: bool) -> None:
        et = self.exiftool
        _unchanged_since(self.path, self.expect)  # the pixels must be those of the file we read
        pixels = verify.pixel_digest(self.real, self.fmt)
        with scratch.folder("xmp") as work:
            edits = [_store_packet(work, packet), *stores.args(self.stores, lists, self.path)]
            digest = stores.digest_args(self.stores, edits)

            def writer(tmp: Path) -> None:
                # exiftool 12.57 cannot write WebP with -o; editing a private copy in place can
                shutil.copyfile(self.real, tmp)
                et.write_in_place(tmp, edits)
                if digest:
                    et.write_in_place(tmp, digest)

            def verify_tmp(tmp: Path) -> None:
                _check_stored(et.read_xmp(tmp) or None, packet, check, self.path)
                after = et.read_json(tmp)
                stores.check(stores.parse(after), self.stores, lists, self.path)
                _check_tags(self.info, after, self.path)
                verify.check_pixels(pixels, tmp, self.fmt, self.path)

            atomic.atomic_write(self.path, writer, expect=self.expect,
                                preserve_mtime=preserve_mtime, verify=verify_tmp)


class Sidecar:
    """An XMP sidecar file beside the photo (created if needed, merged into if there)."""

    kind = "sidecar"
    grow = 0  # padding in a sidecar file serves nothing
    limit = None
    has_iptc = False
    stores = None

    def __init__(self, path: Path, fmt: Format, reason: str, file: Path | None = None):
        self.path, self.fmt, self.reason = Path(path), fmt, reason
        self.file = sidecar.choose(self.path, fmt) if file is None else Path(file)
        self.packet: bytes | None = None
        self.expect: atomic.FileIdentity | None = None
        if os.path.lexists(self.file):
            if not os.path.exists(self.file):  # a symlink (ours to write through) to nothing
                raise MetadataError(f"its sidecar {self.file.name} is a symbolic link to "
                                    f"{os.readlink(self.file)}, which does not exist", self.path)
            self.packet, self.expect = atomic.read_with_identity(self.file)

    def fresh(self) -> Packet:
        packet = new_packet()
        packet.trailer = END + "\n"
        return packet

    def may_drop(self) -> bool:
        # a sidecar that is a symlink was set up by the user: cleaned, never deleted
        return not os.path.islink(self.file)

    def load_stores(self, xp: bool) -> stores.Stores | None:
        return None

    def check_commit(self, packet: bytes | None) -> None:
        pass

    def check_writable(self) -> None:
        try:
            if self.expect is not None:
                atomic.check_writable(self.file)
            else:
                atomic.check_can_create(self.file)
        except WriteError as e:
            raise about_sidecar(e, self.file, self.path) from None

    def commit(self, packet: bytes | None, lists: dict[str, list[str]], check: CheckPacket,
               preserve_mtime: bool) -> None:
        if packet is None:
            assert self.expect is not None
            atomic.remove_file(self.file, expect=self.expect)
            return

        def verify_tmp(tmp: Path) -> None:
            _check_stored(tmp.read_bytes(), packet, check, self.file)

        # --preserve-mtime keeps the photos' times; a sidecar's new time is how Lightroom and
        # darktable see that it changed, so it always gets one
        atomic.atomic_write(self.file, packet, expect=self.expect, preserve_mtime=False, verify=verify_tmp)


Target = Embedded | ViaExiftool | Sidecar


def open_target(path: Path, fmt: Format, exiftool: ExiftoolCommands | None) -> Target:
    """The place `path`'s XMP is written to, loaded."""
    if fmt is Format.RAW:
        return Sidecar(path, fmt, "raw files are never written; tagged in an XMP sidecar")
    if fmt in (Format.JPEG, Format.PNG):
        return Embedded(path, fmt, exiftool)
    if exiftool is None:
        _nothing_of_ours_inside(path, fmt)
        return Sidecar(path, fmt, f"exiftool not installed; {fmt.name} tagged in an XMP sidecar")
    if is_bigtiff(path):
        return Sidecar(path, fmt, "exiftool cannot write BigTIFF files; tagged in an XMP sidecar")
    return ViaExiftool(path, fmt, exiftool)


def _nothing_of_ours_inside(path: Path, fmt: Format) -> None:
    """Without exiftool, a photo emowatch once wrote into (with exiftool) is refused: its values
    there could be neither changed nor removed, and a sidecar beside them would contradict them."""
    found = pillow_xmp.packet_in(path, fmt)
    if found is None:
        return
    try:
        recorded = emotion.read(parse(found))
    except MetadataError:
        return  # not a packet emowatch wrote, then
    if recorded.tags is not None or recorded.added:
        raise ExiftoolMissingError(
            f"emowatch's values are inside this {fmt.name} file, written with exiftool; without "
            "exiftool they can be neither changed nor removed (a sidecar would contradict them): "
            "on Debian/Ubuntu: sudo apt-get install libimage-exiftool-perl")


def stored_packets(path: Path, fmt: Format, exiftool: ExiftoolCommands | None) -> list[bytes]:
    """Every XMP packet emowatch may have written for `path`: embedded first, then sidecar."""
    out: list[bytes] = []
    if fmt in (Format.JPEG, Format.PNG):
        data, _ = atomic.read_with_identity(path)
        if fmt is Format.JPEG:
            found = jpeg.read_packet(data, jpeg.layout(data, path))
        else:
            found = png.read_packet(data, png.chunks(data, path))
        return [found] if found else []
    if fmt is not Format.RAW and exiftool is not None:
        found = exiftool.read_xmp(atomic.resolve(path))
        if found:
            out.append(found)
    for i, side in enumerate(sidecar.find_all(path, fmt)):
        try:
            out.append(atomic.read_with_identity(side)[0])
        except (OSError, EmowatchError):
            if i == 0:
                raise  # the sidecar emowatch uses: its trouble is the photo's
            # a second one (a dangling link, a folder): nothing of ours can be read from it
    return out


def _store_packet(work: Path, packet: bytes | None) -> str:
    """The exiftool argument that makes `packet` the file's XMP, verbatim (None: no XMP)."""
    if packet is None:
        return "-XMP="
    source = work / "packet.xmp"
    source.write_bytes(packet)
    return f"-XMP<={source}"


def _unchanged_since(path: Path, expect: atomic.FileIdentity) -> None:
    if atomic.identity(path) != expect:
        raise FileChangedError("file changed while it was read", path)


def _check_stored(stored: bytes | None, packet: bytes | None, check: CheckPacket,
                  path: Path) -> None:
    if stored != packet:
        raise MetadataError("the XMP did not come out as written; nothing was written", path)
    if packet is not None:
        check(parse(packet))


def _check_pointers(before: dict, scan: int, after: dict, new_scan: int, path: Path) -> None:
    """A JPEG's image data and what follows it are carried over unchanged, only moved by as many
    bytes as its header grew: a pointer into them (a maker note's preview) must move alike.
    (Offsets are otherwise not compared: _check_tags leaves them out.)"""
    for key, numbers in jpeg_head.pointers_past(before, scan).items():
        if after.get(key) == before[key]:
            continue  # left alone: a value that only looks like an offset (a tag named "...Offset"),
            # or the header kept its size; exiftool rewrites a pointer it knows when data moves
        now = set(jpeg_head.numbers_in(after.get(key, "")))
        if any(n + new_scan - scan not in now for n in numbers if n >= scan):
            raise MetadataError(f"{key} would no longer point at its data; nothing was written", path)


def _check_tags(before: dict, after: dict, path: Path) -> None:
    changed = verify.tag_changes(before, after)
    if changed:
        raise MetadataError("other metadata would change (" + ", ".join(changed[:5])
                            + "); nothing was written", path)
