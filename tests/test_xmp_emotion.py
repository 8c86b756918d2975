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


def test_iptc_keywords_are_copied_once_also_into_a_subject_an_earlier_version_left_with_ours_only():
    # tagged before emowatch copied IPTC keywords: dc:subject holds only our words, and readers
    # that follow the Metadata Working Group show those instead of the user's IPTC keywords
    rec = Recorded(corpus.emotion(), {HIERARCHICAL: ("Emotion|Positive",), SUBJECT: ("Emotion", "Positive"),
                                      IPTC: ("Emotion", "Positive")})
    current = {HIERARCHICAL: ["Emotion|Positive"], SUBJECT: ["Emotion", "Positive"],
               IPTC: ["Beach", "Emotion", "Positive"]}
    p = plan(current, rec, corpus.emotion())
    assert p.keywords[SUBJECT] == ["Beach", "Emotion", "Positive"] and p.copied == ["Beach"]
    # once: a copy the user took out of dc:subject later is not copied again
    again = Recorded(corpus.emotion(), rec.added, copied=("Beach",))
    assert plan(current, again, corpus.emotion()).keywords[SUBJECT] == ["Emotion", "Positive"]


def test_untag_keeps_copied_words_beside_words_the_user_added_since():
    rec = Recorded(corpus.emotion(), {SUBJECT: ("Emotion", "Positive"), HIERARCHICAL: ("Emotion|Positive",)},
                   copied=("Beach",))
    current = {HIERARCHICAL: ["Emotion|Positive"], SUBJECT: ["Beach", "Emotion", "Positive"], IPTC: ["Beach"]}
    # nothing else of the user's in dc:subject: the copies go, and readers show IPTC again
    assert plan(current, rec, None).keywords[SUBJECT] == []
    # the user added Sunset there since: dc:subject stays what readers show, copies included
    current[SUBJECT] = current[SUBJECT] + ["Sunset"]
    assert plan(current, rec, None).keywords[SUBJECT] == ["Beach", "Sunset"]


def test_a_declined_keyword_stays_out_through_an_uncertain_result_and_a_new_parent_word():
    from dataclasses import replace

    rec = Recorded(corpus.emotion(), {HIERARCHICAL: ("Emotion|Positive",), SUBJECT: ("Emotion", "Positive")})
    current = {HIERARCHICAL: ["Places|Beach"], SUBJECT: ["Beach", "Places"]}  # ours taken out
    first = plan(current, rec, corpus.emotion())
    assert first.declined == "positive" and "Emotion|Positive" not in first.keywords[HIERARCHICAL]
    uncertain = plan(current, Recorded(corpus.emotion(), first.added, declined="positive"),
                     corpus.emotion(uncertain=True))
    assert uncertain.declined == "positive"
    after = Recorded(corpus.emotion(uncertain=True), uncertain.added, declined="positive")
    assert plan(current, after, corpus.emotion()).keywords[HIERARCHICAL] == ["Places|Beach"]
    assert plan(current, after, replace(corpus.emotion(), parent="Mood")).keywords[HIERARCHICAL] == ["Places|Beach"]
    other = plan(current, after, corpus.emotion("negative"))  # another answer is written
    assert other.keywords[HIERARCHICAL] == ["Places|Beach", "Emotion|Negative"] and other.declined is None


def test_a_keyword_removed_by_hand_is_remembered_when_the_next_answer_is_uncertain():
    rec = Recorded(corpus.emotion(), {HIERARCHICAL: ("Emotion|Positive",), SUBJECT: ("Emotion", "Positive")})
    current = {HIERARCHICAL: [], SUBJECT: []}  # taken out by hand; then an uncertain re-tag
    uncertain = plan(current, rec, corpus.emotion(uncertain=True))
    assert uncertain.declined == "positive"
    after = Recorded(corpus.emotion(uncertain=True), uncertain.added, declined=uncertain.declined)
    assert plan(current, after, corpus.emotion()).keywords[HIERARCHICAL] == []
