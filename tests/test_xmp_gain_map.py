"""Ultra HDR photos (Android's gain-map JPEG, ISO 21496-1's layout): the photo, then a gain
map JPEG after its end marker. The MPF index gives the gain map's place; the photo's XMP says
what it is (hdrgm:Version and a GContainer directory giving its length); the gain map's own XMP
holds its parameters. Tagging must leave a viewer able to find and use it: the MPF offset still
lands on it, its bytes are the same, and both XMP descriptions are kept."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import corpus
from emowatch.metadata import read_tags, remove_tags, write_tags
from emowatch.xmp import jpeg
from photos import patch_mpf_entries, pattern

HDRGM = "http://ns.adobe.com/hdr-gain-map/1.0/"
PRIMARY_XMP = f"""<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Container="http://ns.google.com/photos/1.0/container/"
    xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
    xmlns:hdrgm="{HDRGM}"
   hdrgm:Version="1.0">
   <Container:Directory>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource">
      <Container:Item Item:Semantic="Primary" Item:Mime="image/jpeg"/>
     </rdf:li>
     <rdf:li rdf:parseType="Resource">
      <Container:Item Item:Semantic="GainMap" Item:Mime="image/jpeg" Item:Length="{{length}}"/>
     </rdf:li>
    </rdf:Seq>
   </Container:Directory>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"""
GAIN_MAP_XMP = f"""<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:hdrgm="{HDRGM}"
   hdrgm:Version="1.0" hdrgm:GainMapMin="0" hdrgm:GainMapMax="2.3" hdrgm:Gamma="1"
   hdrgm:OffsetSDR="0.015625" hdrgm:OffsetHDR="0.015625" hdrgm:HDRCapacityMin="0"
   hdrgm:HDRCapacityMax="2.3" hdrgm:BaseRenditionIsHDR="False"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>"""


def _with_xmp(jpeg_bytes: bytes, packet: str) -> bytes:
    """A JPEG with an XMP segment right after SOI and APP0, as a camera app writes it."""
    body = jpeg.XMP_HEADER + packet.encode()
    seg = b"\xff\xe1" + (2 + len(body)).to_bytes(2, "big") + body
    lay = jpeg.layout(jpeg_bytes)
    at = next((s.end for s in lay.segments if s.marker == jpeg.APP0), 2)
    return jpeg_bytes[:at] + seg + jpeg_bytes[at:]


def ultra_hdr(path: Path) -> bytes:
    """Writes an Ultra HDR JPEG to `path`; returns its gain map's bytes."""
    photo = Image.fromarray(pattern(640, 480, seed=7))
    gain = Image.fromarray(np.asarray(photo.convert("L").resize((160, 120))))
    buf = io.BytesIO()
    gain.save(buf, format="JPEG", quality=85)
    gain_map = _with_xmp(buf.getvalue(), GAIN_MAP_XMP)
    # the MPF index and layout from Pillow; the photo's own XMP before the MPF segment, as
    # libultrahdr writes it; then the real gain map in place of Pillow's copy, and both sizes
    photo.save(path, format="MPO", save_all=True, append_images=[gain.convert("RGB")], quality=90)
    data = _with_xmp(path.read_bytes(), PRIMARY_XMP.replace("{length}", str(len(gain_map))))
    (_, _, start), = jpeg.mpf_images(data, jpeg.layout(data).mpf(data)[0])
    data = data[:start] + gain_map
    data = patch_mpf_entries(data, lambda attr, size, offset: (attr, len(gain_map) if offset else start, offset),
                             first=True)
    path.write_bytes(data)
    return gain_map


def _gain_map_as_read(path: Path) -> bytes:
    """The second image, where the MPF index says it is (exiftool reads it from there)."""
    return corpus.binary(path, "MPImage2")


def _hdr_tags(path: Path) -> list[str]:
    """The photo's gain-map description and MPF index as exiftool lists them (as lines: its
    JSON would fold the directory's two items into one). Left out: where the gain map starts in
    the file, which moves with the photo's header, and the photo's own size in the index, which
    neither emowatch nor exiftool updates (readers find the gain map by its offset)."""
    lines = corpus.exiftool("-a", "-G1", "-s", "-XMP-hdrgm:all", "-XMP-Container:all", "-MPF:all",
                            path).splitlines()
    return [line for line in lines if "MPImageStart" not in line
            and not line.startswith("[MPImage1]      MPImageLength")]


@pytest.fixture(params=["exiftool", "no-exiftool", "no-xp"])
def how(request, et, settings):
    if request.param == "exiftool":
        return settings, et
    if request.param == "no-xp":
        return replace(settings, keywords=replace(settings.keywords, xp_keywords=False)), et
    return settings, None


def test_the_gain_map_is_found_and_described_after_tagging_and_untagging(tmp_path, how, tags):
    settings, exiftool = how
    path = tmp_path / "ultrahdr.jpg"
    gain_map = ultra_hdr(path)
    assert _gain_map_as_read(path) == gain_map  # the file is what a viewer expects
    hdr = _hdr_tags(path)
    assert "[XMP-hdrgm]     Version                         : 1.0" in hdr
    assert sum("DirectoryItemSemantic" in line for line in hdr) == 2  # Primary, GainMap
    image = corpus.jpeg_image_data(path.read_bytes())

    assert write_tags(path, tags, settings=settings, exiftool=exiftool).action == "embedded"
    assert _gain_map_as_read(path) == gain_map
    assert _hdr_tags(path) == hdr
    assert corpus.jpeg_image_data(path.read_bytes()) == image
    assert corpus.same_result(read_tags(path), tags)
    assert "Emotion|Positive" in corpus.exiv2_xmp(path)["Xmp.lr.hierarchicalSubject"]

    remove_tags(path, settings=settings, exiftool=exiftool)
    assert read_tags(path) is None
    assert _gain_map_as_read(path) == gain_map
    assert _hdr_tags(path) == hdr


def test_a_copy_tagged_twice_is_the_copy_tagged_once(tmp_path, et, settings, tags):
    path = tmp_path / "ultrahdr.jpg"
    ultra_hdr(path)
    write_tags(path, tags, settings=settings, exiftool=et)
    once = path.read_bytes()
    again = Path(shutil.copy(path, tmp_path / "again.jpg"))
    assert write_tags(again, tags, settings=settings, exiftool=et).action == "unchanged"
    assert again.read_bytes() == once
