"""Reading and editing XMP properties in a parsed packet, in either of RDF's forms.

Simple properties may be attributes of rdf:Description (Lightroom, Adobe) or child elements
(exiftool); arrays are child elements holding an rdf:Bag/Seq/Alt of rdf:li. A packet may split
its properties over several rdf:Description elements (exiftool writes one per namespace), so
every lookup visits them all. Edits keep the surrounding indentation, so an untouched packet
and a touched one differ only where they must.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..errors import MetadataError
from .packet import RDF_ABOUT, RDF_CONTAINERS, RDF_DESC, RDF_LI, Packet, q, NS_RDF

BAG, SEQ = q(NS_RDF, "Bag"), q(NS_RDF, "Seq")


def descriptions(packet: Packet) -> list[ET.Element]:
    return [d for d in packet.rdf if d.tag == RDF_DESC]


def main_description(packet: Packet) -> ET.Element:
    """The rdf:Description new properties go into: the first, or a new one."""
    found = descriptions(packet)
    if found:
        return found[0]
    desc = ET.Element(RDF_DESC, {RDF_ABOUT: ""})
    append_child(packet, packet.rdf, desc)
    return desc


def properties(packet: Packet, tag: str) -> list[ET.Element]:
    """Every element form occurrence of the property `tag` (ElementTree's {uri}name)."""
    return [p for d in descriptions(packet) for p in d if p.tag == tag]


def simple(packet: Packet, tag: str) -> str | None:
    """A simple property's value, from either form; None when absent."""
    for d in descriptions(packet):
        if tag in d.attrib:
            return d.attrib[tag]
        for p in d:
            if p.tag == tag:
                return p.text or ""
    return None


def items(packet: Packet, tag: str) -> list[str]:
    """The text items of an array property, in order; [] when absent.

    MetadataError when the property is there but is not an array: emowatch does not guess what
    a malformed keyword list meant.
    """
    out: list[str] = []
    for prop in properties(packet, tag):
        for li in _container(prop):
            if li.tag != RDF_LI:
                continue
            if any(isinstance(c.tag, str) for c in li):
                # a qualified or structured item (rdf:value...): rewriting the list would lose it
                raise MetadataError(f"XMP property {_show(tag)} holds a structured item, which "
                                    "emowatch does not rewrite")
            out.append(li.text or "")
    for d in descriptions(packet):
        if tag in d.attrib:
            raise MetadataError(f"XMP property {_show(tag)} is an attribute, not an array")
    return out


def set_simple(packet: Packet, tag: str, value: str) -> None:
    """Set a simple property, in place when it is there (attribute or element), else appended."""
    for d in descriptions(packet):
        if tag in d.attrib:
            d.attrib[tag] = value
            return
        for p in d:
            if p.tag == tag:
                if len(p):
                    raise MetadataError(f"XMP property {_show(tag)} is not a simple value")
                p.text = value
                return
    prop = ET.Element(tag)
    prop.text = value
    append_child(packet, main_description(packet), prop)


def set_items(packet: Packet, tag: str, values: list[str], container: str = BAG) -> None:
    """Make an array property hold exactly `values` (in order), keeping the li elements of
    values that stay, so an unchanged item keeps its place and layout. An array that ends up
    empty is removed."""
    props = properties(packet, tag)
    if not values:
        for prop in props:
            remove_child(_parent(packet, prop), prop)
        return
    if not props:
        prop = ET.Element(tag)
        append_child(packet, main_description(packet), prop)
        append_child(packet, prop, ET.Element(container))
        props = [prop]
    wanted = list(values)
    kept: list[str] = []
    for prop in props:
        box = _container(prop)
        for li in [li for li in box if li.tag == RDF_LI]:
            if len(li) == 0 and (li.text or "") in wanted:
                wanted.remove(li.text or "")
                kept.append(li.text or "")
            else:
                remove_child(box, li)
    box = _container(props[0])
    if kept + wanted != list(values):  # the order changed (a Seq must follow it): rebuild
        for li in [li for li in box if li.tag == RDF_LI]:
            remove_child(box, li)
        wanted = list(values)
    for value in wanted:
        li = ET.Element(RDF_LI)
        li.text = value
        append_child(packet, box, li)
    for prop in props[1:]:  # a property split over two descriptions (invalid) ends up as one
        if not any(li.tag == RDF_LI for li in _container(prop)):
            remove_child(_parent(packet, prop), prop)


def remove(packet: Packet, tag: str) -> None:
    """Remove a property, whichever form it has."""
    for d in descriptions(packet):
        d.attrib.pop(tag, None)
        for p in [p for p in d if p.tag == tag]:
            remove_child(d, p)


def remove_namespace(packet: Packet, uri: str) -> bool:
    """Remove every property of namespace `uri` (both forms) and its declarations; returns
    whether anything was there."""
    found = False
    prefix = f"{{{uri}}}"
    for d in descriptions(packet):
        for key in [k for k in d.attrib if k.startswith(prefix)]:
            del d.attrib[key]
            found = True
        for p in [p for p in d if isinstance(p.tag, str) and p.tag.startswith(prefix)]:
            remove_child(d, p)
            found = True
    for elem, decls in packet.decls.items():
        if any(u == uri for _, u in decls) and not _uses(elem, uri):
            packet.decls[elem] = [(p, u) for p, u in decls if u != uri]
    return found


def is_empty(packet: Packet) -> bool:
    """True when the packet holds no property at all."""
    for d in descriptions(packet):
        if any(k != RDF_ABOUT for k in d.attrib) or any(isinstance(c.tag, str) for c in d):
            return False
    return not any(c.tag != RDF_DESC and isinstance(c.tag, str) for c in packet.rdf)


# -- layout-keeping tree edits --------------------------------------------------------------


def append_child(packet: Packet, parent: ET.Element, child: ET.Element) -> None:
    """Append `child` laid out like its siblings (or one step deeper than `parent`)."""
    if len(parent):
        last = parent[-1]
        gap = parent.text if len(parent) == 1 else parent[-2].tail
        child.tail, last.tail = last.tail, gap
    else:
        indent = _indent(packet, parent)
        if indent is None:  # a packet written on one line stays on one line
            parent.text = child.tail = None
        else:
            parent.text = "\n" + indent + " "
            child.tail = "\n" + indent
    parent.append(child)


def remove_child(parent: ET.Element, child: ET.Element) -> None:
    """Remove `child` and the whitespace that introduced it."""
    kids = list(parent)
    i = kids.index(child)
    if i == len(kids) - 1:
        if i > 0:
            kids[i - 1].tail = child.tail
        elif child.tail is not None and not child.tail.strip():
            parent.text = None  # the element is now empty: no stray whitespace inside
    parent.remove(child)


def _indent(packet: Packet, elem: ET.Element) -> str | None:
    """The whitespace before `elem` on its own line; None if it does not start a line."""
    parent = _parent(packet, elem)
    if parent is None:
        return ""
    kids = list(parent)
    i = kids.index(elem)
    before = parent.text if i == 0 else kids[i - 1].tail
    if not before or "\n" not in before:
        return None
    return before.rsplit("\n", 1)[1]


def _parent(packet: Packet, elem: ET.Element) -> ET.Element | None:
    for p in packet.root.iter():
        for c in p:
            if c is elem:
                return p
    return None


def _container(prop: ET.Element) -> ET.Element:
    boxes = [c for c in prop if c.tag in RDF_CONTAINERS]
    if len(boxes) != 1 or (prop.text or "").strip():
        raise MetadataError(f"XMP property {_show(prop.tag)} is not an array")
    return boxes[0]


def _uses(elem: ET.Element, uri: str) -> bool:
    prefix = f"{{{uri}}}"
    for e in elem.iter():
        if isinstance(e.tag, str) and (e.tag.startswith(prefix)
                                       or any(k.startswith(prefix) for k in e.attrib)):
            return True
    return False


def _show(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
