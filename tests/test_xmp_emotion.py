"""Planning keyword lists: ours replaced, the user's untouched, flat words kept while needed."""

from __future__ import annotations

import corpus
from emowatch.xmp import emotion
from emowatch.xmp.emotion import HIERARCHICAL, IPTC, SUBJECT, XP, Recorded, plan
from emowatch.xmp.packet import new_packet, parse, serialize

NOTHING = Recorded(None)


def test_first_tag_appends_the_hierarchy_and_each_level():
    p = plan({HIERARCHICAL: ["Places|Beach"], SUBJECT: ["Beach", "Places"]}, NOTHING,
             corpus.emotion())
    assert p.keywords == {HIERARCHICAL: ["Places|Beach", "Emotion|Positive"],
                          SUBJECT: ["Beach", "Places", "Emotion", "Positive"]}
    assert p.added == {HIERARCHICAL: ["Emotion|Positive"], SUBJECT: ["Emotion", "Positive"]}


def test_retag_swaps_only_our_leaf_and_keeps_the_parent_in_place():
    rec = Recorded(corpus.emotion(), {HIERARCHICAL: ("Emotion|Positive",),
                                      SUBJECT: ("Emotion", "Positive")})
    p = plan({HIERARCHICAL: ["Emotion|Positive", "A|B"], SUBJECT: ["Emotion", "Positive", "B"]},
             rec, corpus.emotion("negative"))
    assert p.keywords == {HIERARCHICAL: ["A|B", "Emotion|Negative"],
                          SUBJECT: ["Emotion", "B", "Negative"]}
    assert p.added == {HIERARCHICAL: ["Emotion|Negative"], SUBJECT: ["Emotion", "Negative"]}


def test_words_we_did_not_add_are_never_removed():
    # the user had Positive and Emotion|Positive before emowatch ever ran
    p = plan({HIERARCHICAL: ["Emotion|Positive"], SUBJECT: ["Emotion", "Positive"]}, NOTHING,
             corpus.emotion())
    assert p.added == {HIERARCHICAL: [], SUBJECT: []}
    untag = plan(p.keywords, Recorded(corpus.emotion(), {}), None)
    assert untag.keywords == {HIERARCHICAL: ["Emotion|Positive"], SUBJECT: ["Emotion", "Positive"]}


def test_a_level_another_hierarchy_uses_stays_ours_until_untag_removes_it():
    # the user had Emotion|Calm (and the word Calm) but not the word Emotion: we added it
    rec = Recorded(corpus.emotion(), {HIERARCHICAL: ("Emotion|Positive",),
                                      SUBJECT: ("Emotion", "Positive")})
    current = {HIERARCHICAL: ["Emotion|Calm", "Emotion|Positive"], SUBJECT: ["Calm", "Emotion", "Positive"]}
    uncertain = plan(current, rec, corpus.emotion(uncertain=True))
    assert uncertain.keywords == {HIERARCHICAL: ["Emotion|Calm"], SUBJECT: ["Calm", "Emotion"]}
    assert uncertain.added == {HIERARCHICAL: [], SUBJECT: ["Emotion"]}  # still ours
    untag = plan(current, rec, None)
    assert untag.keywords == {HIERARCHICAL: ["Emotion|Calm"], SUBJECT: ["Calm"]}  # as the user had it


def test_uncertain_removes_ours_and_adds_nothing():
    rec = Recorded(corpus.emotion(), {HIERARCHICAL: ("Emotion|Positive",),
                                      SUBJECT: ("Emotion", "Positive"), IPTC: ("Emotion", "Positive")})
    p = plan({HIERARCHICAL: ["Emotion|Positive"], SUBJECT: ["X", "Emotion", "Positive"],
              IPTC: ["X", "Emotion", "Positive"]}, rec, corpus.emotion(uncertain=True))
    assert p.keywords == {HIERARCHICAL: [], SUBJECT: ["X"], IPTC: ["X"]}


def test_stores_outside_add_to_only_lose_ours():
    rec = Recorded(corpus.emotion(), {XP: ("Emotion", "Positive")})
    p = plan({HIERARCHICAL: [], SUBJECT: [], XP: ["Mine", "Emotion", "Positive"]}, rec,
             corpus.emotion("negative"), add_to={HIERARCHICAL, SUBJECT})
    assert p.keywords[XP] == ["Mine", "Emotion"]  # Emotion is still a level of ours in XMP
    assert p.keywords[SUBJECT] == ["Emotion", "Negative"]


def test_apply_then_read_gives_back_the_values_and_records():
    packet = new_packet()
    tags = corpus.emotion("other", 0.61)
    p = plan(emotion.xmp_keywords(packet), NOTHING, tags)
    emotion.apply(packet, tags, p, tagged_at=tags.tagged_at, created=True)
    back = emotion.read(parse(serialize(packet)))
    assert corpus.same_result(back.tags, tags) and back.tags.tagged_at == tags.tagged_at
    assert back.created
    assert back.added == {SUBJECT: ("Emotion", "Other"), HIERARCHICAL: ("Emotion|Other",)}


def test_strip_leaves_an_empty_packet_we_can_drop():
    packet = new_packet()
    tags = corpus.emotion()
    emotion.apply(packet, tags, plan(emotion.xmp_keywords(packet), NOTHING, tags),
                  tagged_at="t", created=True)
    rec = emotion.read(packet)
    emotion.strip(packet, plan(emotion.xmp_keywords(packet), rec, None))
    from emowatch.xmp import props

    assert props.is_empty(packet)
    assert b"emowatch" not in serialize(packet)
