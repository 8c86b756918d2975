"""What emowatch puts into (and takes out of) a photo's keywords and its own XMP namespace.

Keywords go where photo software reads them: `Emotion|Positive` in lr:hierarchicalSubject and,
as Lightroom writes a hierarchy, each level as a word in dc:subject (and IPTC:Keywords /
EXIF:XPKeywords, planned here, written by exiftool or xp_keywords). Our values live in our
namespace only.

emowatch records in `emowatch:added` exactly which keyword it added to which list, so re-tagging
and `untag` remove only those: a keyword the user had before (even `Emotion|Positive` itself)
is never theirs to lose. When re-tagging, a flat word of ours stays (still ours) while a
remaining hierarchical keyword has it as a level (the user's `Emotion|Calm` keeps `Emotion`);
`untag` removes every word it added all the same, so the lists are again what the user had.

A photo whose keywords are only in IPTC (no dc:subject: Picasa and older tools wrote those), or
only in EXIF XPKeywords (Windows), has them copied into dc:subject with ours: readers that follow
the Metadata Working Group (Lightroom, Windows among them) read dc:subject instead once it
exists, and would no longer show the user's own keywords. `emowatch:copied` records the copies; re-tagging keeps them, `untag` takes them
out again with the rest.

An emotion keyword the user removed by hand is not put back by a re-tag that gives the same
answer (`_declined_by_hand`): that was a correction, not an accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..errors import MetadataError
from ..tags import NS_URI, EmotionTags
from . import props
from .packet import NS_DC, NS_LR, Packet, q

SUBJECT = "dc:subject"
HIERARCHICAL = "lr:hierarchicalSubject"
IPTC = "IPTC:Keywords"
XP = "EXIF:XPKeywords"
STORES = (SUBJECT, HIERARCHICAL, IPTC, XP)
XMP_TAGS = {SUBJECT: q(NS_DC, "subject"), HIERARCHICAL: q(NS_LR, "hierarchicalSubject")}

# our properties, in the order they are written
(LABEL, KEYWORD, PARENT, CONFIDENCE, PROBABILITIES, UNCERTAIN, MODEL, TAGGED_AT, ADDED, COPIED, DECLINED,
 CREATED, PHOTO) = (q(NS_URI, n) for n in ("label", "keyword", "parent", "confidence", "probabilities",
                                            "uncertain", "model", "taggedAt", "added", "copied", "declined",
                                            "created", "photo"))


@dataclass(frozen=True)
class Recorded:
    """What our namespace in a packet says."""

    tags: EmotionTags | None  # None: nothing of ours
    added: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # store -> our keywords
    created: bool = False  # we created the packet (or sidecar): untag may remove it whole
    copied: tuple[str, ...] = ()  # the user's IPTC (or XPKeywords) keywords we copied into dc:subject
    declined: str | None = None  # the label whose keyword the user removed by hand
    photo: str | None = None  # a raw file's name, in its `IMG.xmp` sidecar (see xmp/sidecar.py)


def read(packet: Packet) -> Recorded:
    """Our values and records in `packet`."""
    label = props.simple(packet, LABEL)
    added: dict[str, list[str]] = {}
    for entry in props.items(packet, ADDED):
        store, sep, word = entry.partition("=")
        if sep and store in STORES:
            added.setdefault(store, []).append(word)
    created = props.simple(packet, CREATED) == "True"
    copied = tuple(props.items(packet, COPIED))
    declined = props.simple(packet, DECLINED) or None
    photo = props.simple(packet, PHOTO) or None
    if label is None:
        return Recorded(None, {k: tuple(v) for k, v in added.items()}, created, copied, declined, photo)
    probabilities = {}
    for entry in props.items(packet, PROBABILITIES):
        name, sep, value = entry.rpartition("=")
        if sep:
            probabilities[name] = _float(value)
    keyword = props.simple(packet, KEYWORD)
    tags = EmotionTags(
        label=label,
        keyword=keyword or None,
        parent=props.simple(packet, PARENT) or "",
        confidence=_float(props.simple(packet, CONFIDENCE) or "nan"),
        probabilities=probabilities,
        model=props.simple(packet, MODEL) or "",
        tagged_at=props.simple(packet, TAGGED_AT) or "",
    )
    return Recorded(tags, {k: tuple(v) for k, v in added.items()}, created, copied, declined, photo)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def values(tags: EmotionTags) -> dict[str, str | list[str]]:
    """Our simple properties and the probabilities, as written (numbers to 4 decimals, so
    a re-run with the same result writes the same text)."""
    out: dict[str, str | list[str]] = {LABEL: tags.label}
    if tags.keyword:
        out[KEYWORD] = tags.keyword
    out[PARENT] = tags.parent
    out[CONFIDENCE] = f"{tags.confidence:.4f}"
    out[PROBABILITIES] = [f"{k}={v:.4f}" for k, v in tags.probabilities.items()]
    out[UNCERTAIN] = "True" if tags.uncertain else "False"
    out[MODEL] = tags.model
    return out


def same_result(a: EmotionTags | None, b: EmotionTags) -> bool:
    """Whether two results would be written the same (tagged_at aside)."""
    return a is not None and values(a) == values(b)


# -- planning: pure functions over keyword lists ------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The keyword lists after a tag or untag, and which of their entries are ours."""

    keywords: dict[str, list[str]]  # store -> the whole new list
    added: dict[str, list[str]]  # store -> our entries in it
    copied: list[str] = field(default_factory=list)  # the user's IPTC/XP keywords copied into dc:subject
    declined: str | None = None  # the label whose keyword the user removed (kept while it is the answer)


def plan(current: Mapping[str, list[str]], recorded: Recorded, tags: EmotionTags | None,
         add_to: frozenset[str] | set[str] = frozenset(STORES)) -> Plan:
    """New lists for the stores in `current` (always the two XMP ones): tagging with `tags`,
    or removing ours when `tags` is None. Stores not in `add_to` only lose our old words."""
    for words in current.values():
        for w in words:
            if "\n" in w or "\r" in w:
                raise MetadataError("a keyword contains a line break")
    current, copied = _with_keywords_copied(current, recorded, tags)
    target = tags.hierarchical if tags else None
    declined = _declined_by_hand(current, recorded, tags)
    if declined:  # the user took our keyword out for this same answer: it stays out
        target = None
    if declined:
        still_declined = tags.label if tags else None
    elif tags is not None and tags.keyword is None:  # an uncertain result does not end it, nor
        still_declined = recorded.declined or _removed_by_hand(current, recorded)  # hide one
    else:
        still_declined = None  # another answer, or untag
    ours = set(recorded.added.get(HIERARCHICAL, ()))
    hier = [k for k in current[HIERARCHICAL] if k not in ours or k == target]
    new_ours_hier = [k for k in hier if k in ours]
    if target and target not in hier:
        hier.append(target)
        new_ours_hier.append(target)
    # levels of the remaining hierarchy keep their flat words while tagging; untag (no tags)
    # restores the lists as they were before emowatch
    levels = {level for k in hier for level in k.split("|")} if tags else set()
    keywords = {HIERARCHICAL: hier}
    added = {HIERARCHICAL: new_ours_hier}
    words_wanted = list(tags.flat) if tags and not declined else []
    for store in current:
        if store == HIERARCHICAL:
            continue
        ours = set(recorded.added.get(store, ()))
        if store == SUBJECT and tags is None and not [w for w in current[store] if w not in ours | set(copied)]:
            ours |= set(copied)  # untag: nothing else of the user's in dc:subject, so readers go
            # back to IPTC, where the copies came from; beside other words of theirs they stay
        wanted = words_wanted if store in add_to else []
        kept = [w for w in current[store] if w not in ours or w in wanted or w in levels]
        mine = [w for w in kept if w in ours]
        for w in wanted:
            if w not in kept:
                kept.append(w)
                mine.append(w)
        # recorded in the order of the words wanted, not of the list: exiftool may place an
        # IPTC keyword elsewhere than planned, and the record must not change with that
        rank = {w: i for i, w in enumerate(wanted)}
        mine.sort(key=lambda w: rank.get(w, len(rank)))
        keywords[store], added[store] = kept, mine
    return Plan(keywords, added, copied if tags else [], still_declined)


def _removed_by_hand(current: Mapping[str, list[str]], recorded: Recorded) -> str | None:
    """The label whose keyword emowatch wrote last and the user has taken out since."""
    earlier = recorded.tags
    if earlier is not None and earlier.hierarchical and earlier.hierarchical not in current[HIERARCHICAL]:
        return earlier.label
    return None


def _declined_by_hand(current: Mapping[str, list[str]], recorded: Recorded, tags: EmotionTags | None) -> str | None:
    """The emotion keyword not to put back: the user removed ours by hand after emowatch gave
    this same answer (a correction in Lightroom, say); None when there is none. The same answer
    is the same label (a new parent word does not make it another); an uncertain result in
    between does not end it; another label is written as usual; `untag`, then `tag`, brings
    the keyword back."""
    target = tags.hierarchical if tags else None
    if not target or target in current[HIERARCHICAL]:
        return None
    if tags.label in (recorded.declined, _removed_by_hand(current, recorded)):
        return target
    return None


def _with_keywords_copied(current: Mapping[str, list[str]], recorded: Recorded,
                      tags: EmotionTags | None) -> tuple[Mapping[str, list[str]], list[str]]:
    """`current` with the user's IPTC keywords (else XPKeywords) copied into dc:subject when
    tagging a photo whose dc:subject holds nothing of theirs (readers showed those; once only, also
    for a photo an earlier emowatch tagged without copying), and the copies now in dc:subject."""
    subject = current.get(SUBJECT, [])
    copied = [w for w in recorded.copied if w in subject]
    # where readers found the keywords until now: IPTC, else (Windows) EXIF XPKeywords - those
    # only at the first tag: Lightroom keeps IPTC in step with dc:subject, not XPKeywords, so a
    # word found there later may be one the user took out of dc:subject
    first = not any(recorded.added.values()) and recorded.tags is None
    source = current.get(IPTC) or (current.get(XP) if first else None)
    if tags is None or recorded.copied or not source:
        return current, copied
    ours = set(recorded.added.get(SUBJECT, ()))
    if any(w not in ours for w in subject):
        return current, copied  # the user's own dc:subject: readers show that, not IPTC
    ours_there = set(recorded.added.get(IPTC, ())) | set(recorded.added.get(XP, ()))
    new = [w for w in dict.fromkeys(source) if w not in ours_there and w not in subject]
    return {**current, SUBJECT: new + list(subject)}, new


# -- applying to a packet -----------------------------------------------------------------


def apply(packet: Packet, tags: EmotionTags, plan_: Plan, *, tagged_at: str, created: bool,
          photo: str | None = None) -> None:
    """Write `tags` and the planned XMP keyword lists into `packet`; `photo`: the raw file a
    shared-name sidecar (`IMG.xmp`) speaks for."""
    for store, tag in XMP_TAGS.items():
        props.set_items(packet, tag, plan_.keywords[store])
    if tags.keyword is None:
        props.remove(packet, KEYWORD)
    for tag, value in values(tags).items():
        if isinstance(value, list):
            props.set_items(packet, tag, value, container=props.SEQ)
        else:
            props.set_simple(packet, tag, value)
    props.set_simple(packet, TAGGED_AT, tagged_at)
    entries = [f"{store}={w}" for store in STORES for w in plan_.added.get(store, [])]
    props.set_items(packet, ADDED, entries)
    props.set_items(packet, COPIED, plan_.copied)
    if plan_.declined:
        props.set_simple(packet, DECLINED, plan_.declined)
    else:
        props.remove(packet, DECLINED)
    if created:
        props.set_simple(packet, CREATED, "True")
    if photo:
        props.set_simple(packet, PHOTO, photo)


def strip(packet: Packet, plan_: Plan) -> None:
    """Remove our namespace and apply the planned (ours removed) XMP keyword lists."""
    for store, tag in XMP_TAGS.items():
        if plan_.keywords[store] != props.items(packet, tag):
            props.set_items(packet, tag, plan_.keywords[store])
    props.remove_namespace(packet, NS_URI)


def xmp_keywords(packet: Packet) -> dict[str, list[str]]:
    """The two XMP keyword lists as they are now."""
    return {store: props.items(packet, tag) for store, tag in XMP_TAGS.items()}
