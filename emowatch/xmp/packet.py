"""Parse an XMP packet into a tree, edit it, and write it back keeping everything else.

The tree is xml.etree's, built by a parser that also records where each namespace was declared,
keeps comments and processing instructions, and keeps every whitespace text. Serialising writes
elements back with their original prefixes, declarations, attributes (in order) and whitespace,
so properties emowatch does not touch come out as they went in: Lightroom's attribute form
(`xmp:Rating="3"` on rdf:Description) and element form alike. Only quoting may change.

A packet in a file is wrapped (XMP spec part 1, 7.3): `<?xpacket begin="BOM" id="W5M0..."?>`,
the XML, whitespace padding, `<?xpacket end="w"?>`. Padding lets a later edit grow the packet
in place; we keep the packet's size when the new content fits, else add ~2 KB.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat
from dataclasses import dataclass, field

from ..errors import MetadataError
from ..tags import NS_PREFIX, NS_URI

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_LR = "http://ns.adobe.com/lightroom/1.0/"
NS_XMPNOTE = "http://ns.adobe.com/xmp/note/"

# prefixes used when a namespace has to be declared anew
PREFERRED_PREFIXES = {NS_X: "x", NS_RDF: "rdf", NS_DC: "dc", NS_LR: "lr", NS_XMPNOTE: "xmpNote",
                      NS_URI: NS_PREFIX}

PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
BEGIN = f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>'
END = '<?xpacket end="w"?>'
PADDING = 2048  # the XMP spec's suggestion for packets that may be edited in place

_BEGIN_RE = re.compile(r"<\?xpacket\s+begin=.*?\?>", re.S)
_END_RE = re.compile(r"<\?xpacket\s+end=\s*['\"][rw]['\"]\s*\?>\s*\Z")
_ROOT_NAME_RE = re.compile(r"<([^\s/>!?]+)")


def q(ns: str, name: str) -> str:
    """ElementTree's name for ns:name."""
    return f"{{{ns}}}{name}"


RDF_RDF, RDF_DESC, RDF_LI = q(NS_RDF, "RDF"), q(NS_RDF, "Description"), q(NS_RDF, "li")
RDF_ABOUT = q(NS_RDF, "about")
RDF_CONTAINERS = (q(NS_RDF, "Bag"), q(NS_RDF, "Seq"), q(NS_RDF, "Alt"))


@dataclass
class Packet:
    """A parsed packet: the tree plus what surrounds it, to write it back the way it came."""

    root: ET.Element  # x:xmpmeta, or rdf:RDF in packets that omit it
    head: str = BEGIN + "\n"  # everything before the root element, wrapper included
    tail: str = "\n"  # what followed the root element, without padding and end wrapper
    trailer: str | None = END  # the end wrapper, None for a packet that had no wrapper
    pad: str = ""  # the padding as stored, reused when the size comes out the same
    size: int = 0  # the stored packet's size in bytes, 0 for a new packet
    decls: dict[ET.Element, list[tuple[str, str]]] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)  # every uri -> prefix seen on input
    # each parsed element's start tag as written, with its attributes and declarations then:
    # written back as is, patched only where they changed
    raw: dict[ET.Element, tuple[str, dict[str, str], list[tuple[str, str]]]] = field(
        default_factory=dict)

    @property
    def rdf(self) -> ET.Element:
        if self.root.tag == RDF_RDF:
            return self.root
        found = self.root.find(RDF_RDF)
        if found is None:
            raise MetadataError("XMP packet has no rdf:RDF element")
        return found

    @property
    def wrapped(self) -> bool:
        return self.trailer is not None


def new_packet() -> Packet:
    """An empty packet as a file of ours starts it: x:xmpmeta / rdf:RDF / one rdf:Description."""
    root = ET.Element(q(NS_X, "xmpmeta"))
    rdf = ET.SubElement(root, RDF_RDF)
    desc = ET.SubElement(rdf, RDF_DESC, {RDF_ABOUT: ""})
    root.text, rdf.text, rdf.tail, desc.tail = "\n ", "\n  ", "\n", "\n "
    return Packet(root=root, decls={root: [("x", NS_X)], rdf: [("rdf", NS_RDF)]})


# -- parsing ------------------------------------------------------------------------------


def parse(data: bytes) -> Packet:
    """Parse a stored packet (with or without its wrapper, or a whole sidecar file).

    MetadataError for anything that is not well-formed UTF-8 XMP: emowatch never rewrites
    what it cannot fully read.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        raise MetadataError("XMP packet is UTF-16/32; emowatch only rewrites UTF-8 packets")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError("XMP packet is not valid UTF-8") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise MetadataError("XMP packet contains a DTD, which XMP forbids")
    builder = _Builder(data)
    try:
        builder.parser.Parse(data, True)
    except expat.ExpatError as e:
        raise MetadataError(f"XMP packet is broken ({expat.errors.messages[e.code]}, "
                            f"line {e.lineno})") from None
    root = builder.root
    if root is None or root.tag not in (q(NS_X, "xmpmeta"), q(NS_X, "xapmeta"), RDF_RDF):
        raise MetadataError("XMP packet's root element is not x:xmpmeta")
    head, tail, trailer, pad = _surroundings(text)
    packet = Packet(root=root, head=head, tail=tail, trailer=trailer, pad=pad, size=len(data),
                    decls=builder.decls, prefixes=builder.prefixes, raw=builder.raw)
    packet.rdf  # noqa: B018 - raises early for a packet without rdf:RDF
    return packet


class _Builder:
    """Builds the element tree with expat, remembering for each element the namespaces it
    declared and its start tag exactly as written."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.root: ET.Element | None = None
        self.stack: list[ET.Element] = []
        self.pending: list[tuple[str, str]] = []
        self.decls: dict[ET.Element, list[tuple[str, str]]] = {}
        self.prefixes: dict[str, str] = {}
        self.raw: dict[ET.Element, tuple[str, dict[str, str], list[tuple[str, str]]]] = {}
        p = self.parser = expat.ParserCreate(namespace_separator=" ")
        p.ordered_attributes = True
        p.buffer_text = True
        p.StartNamespaceDeclHandler = self.start_ns
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.chars
        p.CommentHandler = lambda text: self.leaf(ET.Comment(text))
        p.ProcessingInstructionHandler = lambda t, d: self.leaf(ET.ProcessingInstruction(t, d))

    def start_ns(self, prefix: str | None, uri: str) -> None:
        self.pending.append((prefix or "", uri))
        self.prefixes.setdefault(uri, prefix or "")

    def start(self, name: str, attrs: list[str]) -> None:
        attrib = {_et_name(attrs[i]): attrs[i + 1] for i in range(0, len(attrs), 2)}
        elem = ET.Element(_et_name(name), attrib)
        at = self.parser.CurrentByteIndex
        self.raw[elem] = (_start_tag(self.data, at), dict(attrib), list(self.pending))
        if self.pending:
            self.decls[elem], self.pending = self.pending, []
        if self.stack:
            self.stack[-1].append(elem)
        else:
            self.root = elem
        self.stack.append(elem)

    def end(self, name: str) -> None:
        self.stack.pop()

    def chars(self, text: str) -> None:
        if not self.stack:
            return
        parent = self.stack[-1]
        if len(parent):
            parent[-1].tail = (parent[-1].tail or "") + text
        else:
            parent.text = (parent.text or "") + text

    def leaf(self, elem: ET.Element) -> None:
        if self.stack:  # comments and PIs around the root stay in the raw head and tail
            self.stack[-1].append(elem)


def _et_name(expat_name: str) -> str:
    uri, sep, local = expat_name.rpartition(" ")
    return f"{{{uri}}}{local}" if sep else local


def _start_tag(data: bytes, at: int) -> str:
    """The start tag beginning at byte `at`, as written (a '>' inside quotes does not end it)."""
    quote = 0
    for i in range(at, len(data)):
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x3E:
            return data[at : i + 1].decode("utf-8")
    raise MetadataError("XMP packet is broken (unterminated tag)")


def _surroundings(text: str) -> tuple[str, str, str | None, str]:
    """The raw text before the root element, after it, the end wrapper and the padding."""
    start = _root_start(text)
    name = _ROOT_NAME_RE.match(text, start)
    assert name is not None
    close = text.rfind(f"</{name.group(1)}")
    end = text.index(">", close) + 1 if close >= 0 else text.index("/>", start) + 2
    head, rest = text[:start], text[end:]
    if not _BEGIN_RE.search(head):
        return head, rest, None, ""
    m = _END_RE.search(rest)
    if m is None:  # a begin wrapper without its end: written back complete
        return head, rest.rstrip(" \t\r\n") + "\n", END, ""
    # whitespace before the end wrapper is padding (the first newline ends the XML's last line)
    inner = rest[: m.start()]
    body = inner.rstrip(" \t\r\n")
    after = inner[len(body):]
    nl = after.find("\n") + 1
    return head, body + after[:nl], m.group(0), after[nl:]


def _root_start(text: str) -> int:
    i = 0
    while True:
        while i < len(text) and text[i] in " \t\r\n\ufeff":
            i += 1
        if text.startswith("<?", i):
            i = text.index("?>", i) + 2
        elif text.startswith("<!--", i):
            i = text.index("-->", i) + 3
        else:
            return i


# -- serialising --------------------------------------------------------------------------


def serialize(packet: Packet, *, limit: int | None = None, grow: int = PADDING) -> bytes:
    """The packet as stored bytes: wrapped and padded if it was (or is new), else bare.

    `limit`: the largest packet the container can hold (65,502 bytes in a JPEG APP1 segment);
    padding shrinks to fit, and content that cannot fit raises MetadataError.
    `grow`: the padding a packet gets when it outgrows its stored size; 0 (sidecar files, where
    padding serves nothing) keeps whatever padding was there, unchanged.
    """
    body = packet.head + _element(packet.root, packet, {"xml": NS_XML}) + packet.tail
    if not packet.wrapped:
        out = body.encode("utf-8")
        if limit is not None and len(out) > limit:
            raise _too_large(len(out), limit)
        return out
    trailer = packet.trailer or END
    content = len(body.encode("utf-8")) + len(trailer)
    if limit is not None and content > limit:
        raise _too_large(content, limit)
    # keep the stored size when the new content fits: the packet then changes in place
    if not grow:
        return (body + packet.pad + trailer).encode("utf-8")
    pad = packet.size - content if packet.size - content >= 0 else grow
    if limit is not None:
        pad = min(pad, limit - content)
    pad_text = packet.pad if len(packet.pad.encode("utf-8")) == pad else padding(pad)
    return (body + pad_text + trailer).encode("utf-8")


def padding(n: int) -> str:
    """n bytes of XMP padding: spaces, a newline every 100 bytes (XMP spec part 1, 7.3.3)."""
    if n <= 0:
        return ""
    line = " " * 99 + "\n"
    full, rest = divmod(n, 100)
    return line * full + (" " * (rest - 1) + "\n" if rest else "")


def _too_large(size: int, limit: int) -> MetadataError:
    return MetadataError(
        f"the XMP packet would be {size:,} bytes, more than the {limit:,} bytes its container "
        "can hold; nothing was written"
    )


def _element(elem: ET.Element, packet: Packet, scope: dict[str, str]) -> str:
    if elem.tag is ET.Comment:
        return f"<!--{elem.text or ''}-->" + _text(elem.tail)
    if elem.tag is ET.ProcessingInstruction:
        return f"<?{elem.text or ''}?>" + _text(elem.tail)
    scope = dict(scope)
    own = packet.decls.get(elem, [])
    for prefix, uri in own:
        scope[prefix] = uri
    needed = _uris_of(elem)
    if elem.tag == RDF_DESC:
        # rdf:Description declares what new properties use, as Adobe and exiftool write it
        declared = {u for e in elem.iter() for _, u in packet.decls.get(e, [])}
        needed += [u for u in _uris_below(elem) if u not in declared]
    new: list[tuple[str, str]] = []
    for uri in needed:
        if uri not in scope.values():
            prefix = _free_prefix(uri, packet, scope)
            scope[prefix] = uri
            new.append((prefix, uri))
    empty = len(elem) == 0 and not elem.text
    start = _start_as_written(elem, packet, scope, own, new)
    if start is not None:
        name = _ROOT_NAME_RE.match(start).group(1)  # type: ignore[union-attr]
        if start.endswith("/>"):
            if empty:
                return start + _text(elem.tail)
            start = start[:-2].rstrip() + ">"
        parts = [start]
    else:
        name = _qname(elem.tag, scope, element=True)
        parts = ["<", name]
        for prefix, uri in own + new:
            parts.append(f' {_xmlns(prefix)}="{_attr(uri)}"')
        for key, value in elem.attrib.items():
            parts.append(f' {_qname(key, scope, element=False)}="{_attr(value)}"')
        if empty:
            return "".join(parts) + "/>" + _text(elem.tail)
        parts.append(">")
    parts.append(_text(elem.text))
    parts.extend(_element(child, packet, scope) for child in elem)
    parts.append(f"</{name}>")
    parts.append(_text(elem.tail))
    return "".join(parts)


def _start_as_written(elem: ET.Element, packet: Packet, scope: dict[str, str],
                      own: list[tuple[str, str]], new: list[tuple[str, str]]) -> str | None:
    """The element's start tag as it was written, patched for what changed since; None when
    it is a new element or its attributes gained a name (then it is written afresh)."""
    if elem not in packet.raw:
        return None
    raw, attrib, decls = packet.raw[elem]
    if any(k not in attrib for k in elem.attrib):
        return None
    for key, old in attrib.items():
        pattern = _attr_re(_qname(key, {**scope, **dict(decls)}, element=False))
        if key not in elem.attrib:
            raw = pattern.sub("", raw, count=1)
        elif elem.attrib[key] != old:
            value = _attr(elem.attrib[key])
            raw = pattern.sub(lambda m: f'{m.group(1)}{m.group(2)}"{value}"', raw, count=1)
    for prefix, uri in decls:
        if (prefix, uri) not in own:
            raw = _attr_re(_xmlns(prefix)).sub("", raw, count=1)
    return _add_decls(raw, new)


def _attr_re(qname: str) -> re.Pattern[str]:
    return re.compile(r"""(\s+)(%s\s*=\s*)(?:"[^"]*"|'[^']*')""" % re.escape(qname))


def _xmlns(prefix: str) -> str:
    return f"xmlns:{prefix}" if prefix else "xmlns"


def _add_decls(raw: str, new: list[tuple[str, str]]) -> str:
    """Insert namespace declarations into a start tag as written, after its last one and in
    its layout (Adobe writes one per line)."""
    if not new:
        return raw
    last = None
    for last in re.finditer(r"""(\s+)xmlns(?::[^\s=]+)?\s*=\s*(?:"[^"]*"|'[^']*')""", raw):
        pass
    if last is None:
        at = _ROOT_NAME_RE.match(raw).end()  # type: ignore[union-attr]
        gap = " "
    else:
        at, gap = last.end(), last.group(1)
    added = "".join(f'{gap}{_xmlns(p)}="{_attr(u)}"' for p, u in new)
    return raw[:at] + added + raw[at:]


def _split(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        uri, _, local = name[1:].partition("}")
        return uri, local
    return "", name


def _uris_of(elem: ET.Element) -> list[str]:
    uris = [_split(elem.tag)[0]] + [_split(a)[0] for a in elem.attrib]
    return [u for u in dict.fromkeys(uris) if u]


def _uris_below(elem: ET.Element) -> list[str]:
    uris: dict[str, None] = {}
    for e in elem.iter():
        if isinstance(e.tag, str):
            uris.update(dict.fromkeys(_uris_of(e)))
    return list(uris)


def _free_prefix(uri: str, packet: Packet, scope: dict[str, str]) -> str:
    base = packet.prefixes.get(uri) or PREFERRED_PREFIXES.get(uri) or "ns"
    prefix, n = base, 1
    while prefix in scope or not prefix:
        prefix, n = f"{base}{n}", n + 1
    packet.prefixes.setdefault(uri, prefix)
    return prefix


def _qname(name: str, scope: dict[str, str], *, element: bool) -> str:
    uri, local = _split(name)
    if not uri:
        return local
    # the innermost declaration wins; attributes cannot use a default namespace
    for prefix in reversed(list(scope)):
        if scope[prefix] == uri and (prefix or element):
            return f"{prefix}:{local}" if prefix else local
    raise MetadataError(f"namespace {uri} has no prefix in scope")  # _element declares all


def _text(s: str | None) -> str:
    if not s:
        return ""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def _attr(s: str) -> str:
    return (_text(s).replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;"))
