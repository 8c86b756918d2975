"""XMP packets: parsed and written back keeping everything, wrapped and padded per the spec."""

from __future__ import annotations

import pytest

import corpus
from emowatch.errors import MetadataError
from emowatch.xmp import emotion, props
from emowatch.xmp.packet import NS_DC, new_packet, padding, parse, q, serialize

EXIFTOOL_STYLE = (b"<?xpacket begin='\xef\xbb\xbf' id='W5M0MpCehiHzreSzNTczkc9d'?>\n"
                  b"<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>\n"
                  b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\n\n"
                  b" <rdf:Description rdf:about=''\n  xmlns:dc='http://purl.org/dc/elements/1.1/'>\n"
                  b"  <dc:subject>\n   <rdf:Bag>\n    <rdf:li>Studio</rdf:li>\n   </rdf:Bag>\n"
                  b"  </dc:subject>\n </rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
                  + b" " * 300 + b"\n<?xpacket end='w'?>")


@pytest.mark.parametrize("data", [corpus.lightroom_xmp(), EXIFTOOL_STYLE,
                                  corpus.lightroom_xmp(own_emotion="Calm")])
def test_untouched_packet_is_written_back_byte_for_byte(data):
    assert serialize(parse(data)) == data


def test_sidecar_without_wrapper_round_trips(tmp_path):
    side = corpus.lightroom_sidecar(tmp_path / "a.xmp").read_bytes()
    assert serialize(parse(side), grow=0) == side


def test_edit_keeps_attribute_form_layout_and_every_other_property():
    packet = parse(corpus.lightroom_xmp())
    props.set_items(packet, q(NS_DC, "subject"), ["Beach", "Family", "Places", "Emotion"])
    text = serialize(packet).decode()
    # Lightroom's multi-line rdf:Description start tag is kept as written
    assert '   xmp:Rating="3"\n   xmp:Label="Red"\n' in text
    assert '<rdf:li xml:lang="x-default">Beach &amp; sun</rdf:li>' in text
    assert "     <rdf:li>Places</rdf:li>\n     <rdf:li>Emotion</rdf:li>\n    </rdf:Bag>" in text
    again = parse(serialize(packet))
    assert props.simple(again, q("http://ns.adobe.com/camera-raw-settings/1.0/",
                                 "Exposure2012")) == "+0.35"


def test_a_new_namespace_is_declared_in_the_description_in_its_layout():
    packet = parse(corpus.lightroom_xmp())
    props.set_simple(packet, emotion.LABEL, "positive")
    text = serialize(packet).decode()
    assert ('xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"\n'
            '    xmlns:emowatch="https://emowatch.dev/ns/1.0/"') in text
    props.remove_namespace(packet, "https://emowatch.dev/ns/1.0/")
    assert serialize(packet) == corpus.lightroom_xmp()


def test_our_property_in_attribute_form_is_updated_in_place():
    data = corpus.lightroom_xmp().replace(
        b'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"',
        b'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"\n'
        b'    xmlns:emowatch="https://emowatch.dev/ns/1.0/"\n   emowatch:label="negative"')
    packet = parse(data)
    assert props.simple(packet, emotion.LABEL) == "negative"
    props.set_simple(packet, emotion.LABEL, "positive")
    text = serialize(packet).decode()
    assert '   emowatch:label="positive"\n' in text and "negative" not in text


def test_new_packet_has_the_standard_wrapper_and_2k_padding():
    packet = new_packet()
    props.set_simple(packet, emotion.LABEL, "positive")
    data = serialize(packet)
    assert data.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
                           .encode())
    assert data.endswith(b'<?xpacket end="w"?>')
    assert data.count(b" " * 99 + b"\n") >= 20
    assert props.simple(parse(data), emotion.LABEL) == "positive"


def test_an_edit_that_fits_keeps_the_packet_size():
    data = corpus.lightroom_xmp()
    packet = parse(data)
    props.set_items(packet, q(NS_DC, "subject"), ["Beach"])
    assert len(serialize(packet)) == len(data)


def test_padding_shrinks_to_the_limit_and_too_much_content_is_refused():
    packet = new_packet()
    props.set_simple(packet, emotion.LABEL, "x" * 1000)
    content = len(serialize(packet)) - 2048
    assert len(serialize(packet, limit=content + 100)) == content + 100
    with pytest.raises(MetadataError, match="more than"):
        serialize(packet, limit=content - 1)


def test_padding_is_whitespace_with_a_newline_every_100_bytes():
    assert padding(250) == " " * 99 + "\n" + " " * 99 + "\n" + " " * 49 + "\n"
    assert len(padding(2048)) == 2048


@pytest.mark.parametrize("bad, why", [
    (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF", "broken"),
    (b"<html><body/></html>", "root element"),
    (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", "rdf:RDF"),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x/>'.encode(), "DTD"),
    ("<x:xmpmeta/>".encode("utf-16"), "UTF-16"),
    (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>\xff\xfe</x:xmpmeta>", "UTF-8"),
])
def test_broken_packets_are_refused_clearly(bad, why):
    with pytest.raises(MetadataError, match=why):
        parse(bad)


def test_non_array_keywords_are_not_guessed_at():
    data = corpus.lightroom_xmp().replace(
        b"<dc:subject>\n    <rdf:Bag>", b"<dc:subject>Beach<rdf:Bag>")
    with pytest.raises(MetadataError, match="not an array"):
        props.items(parse(data), q(NS_DC, "subject"))


def test_properties_spread_over_several_descriptions_are_all_seen():
    packet = parse(EXIFTOOL_STYLE.replace(
        b"</rdf:RDF>", b" <rdf:Description rdf:about='' xmlns:lr='http://ns.adobe.com/lightroom/1.0/'>"
        b"<lr:hierarchicalSubject><rdf:Bag><rdf:li>A|B</rdf:li></rdf:Bag></lr:hierarchicalSubject>"
        b"</rdf:Description>\n</rdf:RDF>"))
    assert emotion.xmp_keywords(packet) == {"dc:subject": ["Studio"],
                                            "lr:hierarchicalSubject": ["A|B"]}
