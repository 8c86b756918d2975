"""Keyword semantics: re-tagging, uncertainty, the user's own keywords, raw sidecars, dry runs."""

from __future__ import annotations

import os

import pytest

import corpus
from emowatch.errors import MetadataError
from emowatch.metadata import read_tags, remove_tags, write_tags
from emowatch.settings import Settings


def keywords(path):
    tags = corpus.tags_of(path)
    return (corpus.as_list(tags.get("XMP-lr:HierarchicalSubject")),
            corpus.as_list(tags.get("XMP-dc:Subject")))


def test_retag_replaces_our_keyword_and_values_without_duplicates(photo, et, settings):
    path = photo("full.jpg")
    write_tags(path, corpus.emotion("positive"), settings=settings, exiftool=et)
    result = write_tags(path, corpus.emotion("negative", 0.8, model="tiny@2"), settings=settings,
                        exiftool=et)
    assert result.action == "embedded"
    assert "lr:hierarchicalSubject: +Emotion|Negative -Emotion|Positive" in result.changes
    hier, flat = keywords(path)
    assert hier == ["Places|Beach", "Emotion|Negative"]
    assert flat == ["Beach", "Family", "Places", "Emotion", "Negative"]
    back = read_tags(path, exiftool=et)
    assert corpus.same_result(back, corpus.emotion("negative", 0.8, model="tiny@2"))


def test_users_own_emotion_keyword_is_never_removed(photo, et, settings):
    path = photo("plain.jpg")
    path.unlink()
    corpus.jpeg_full(path, own_emotion="Calm")
    write_tags(path, corpus.emotion("positive"), settings=settings, exiftool=et)
    hier, flat = keywords(path)
    assert hier == ["Places|Beach", "Emotion|Calm", "Emotion|Positive"]
    assert flat == ["Beach", "Family", "Places", "Emotion", "Calm", "Positive"]

    remove_tags(path, settings=settings, exiftool=et)
    hier, flat = keywords(path)
    assert hier == ["Places|Beach", "Emotion|Calm"]
    # "Emotion" stays: the user's Emotion|Calm still needs it
    assert flat == ["Beach", "Family", "Places", "Emotion", "Calm"]


def test_untag_gives_back_a_hierarchy_without_its_flat_words_as_it_was(photo, et, settings):
    # the user's Emotion|Calm came without the word Emotion: we add that word, and take it back
    path = photo("plain.jpg")
    corpus.exiftool("-q", "-overwrite_original", "-XMP-lr:HierarchicalSubject=Emotion|Calm", path)
    before = corpus.tags_of(path)
    write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et)
    write_tags(path, corpus.emotion(uncertain=True), settings=settings, exiftool=et)
    assert keywords(path) == (["Emotion|Calm"], ["Emotion"])  # a level of the user's hierarchy
    remove_tags(path, settings=settings, exiftool=et)
    after = corpus.tags_of(path)
    assert keywords(path) == (["Emotion|Calm"], [])
    assert {k: v for k, v in after.items() if not k.startswith("System:")} == \
        {k: v for k, v in before.items() if not k.startswith("System:")}


def test_a_keyword_the_user_had_before_us_stays_theirs(photo, et, settings):
    path = photo("plain.jpg")
    path.unlink()
    corpus.jpeg_full(path, own_emotion="Positive")  # the user tagged it Positive themselves
    write_tags(path, corpus.emotion("positive"), settings=settings, exiftool=et)
    write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et)
    hier, _ = keywords(path)
    assert hier == ["Places|Beach", "Emotion|Positive", "Emotion|Negative"]
    remove_tags(path, settings=settings, exiftool=et)
    hier, flat = keywords(path)
    assert hier == ["Places|Beach", "Emotion|Positive"]
    assert flat == ["Beach", "Family", "Places", "Emotion", "Positive"]


def test_a_keyword_of_ours_the_user_corrected_by_hand_is_not_put_back(photo, et, settings):
    # in Lightroom: Emotion|Negative taken out, Emotion|Positive put in; a re-tag (the daemon
    # sees the file change) with the same answer put Negative back beside the correction
    path = photo("plain.jpg")
    write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et)
    corpus.exiftool("-q", "-overwrite_original", "-XMP-lr:HierarchicalSubject-=Emotion|Negative",
                    "-XMP-dc:Subject-=Negative", "-XMP-lr:HierarchicalSubject+=Emotion|Positive",
                    "-XMP-dc:Subject+=Positive", path)
    result = write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et)
    assert "Emotion|Negative not put back: removed by hand after emowatch wrote it" in result.changes
    assert keywords(path) == (["Emotion|Positive"], ["Emotion", "Positive"])
    assert write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et).action == "unchanged"
    assert read_tags(path, exiftool=et).label == "negative"  # what the model said, still recorded
    # another answer (the photo was edited) is written as usual
    write_tags(path, corpus.emotion("other"), settings=settings, exiftool=et)
    assert keywords(path) == (["Emotion|Positive", "Emotion|Other"], ["Emotion", "Positive", "Other"])
    remove_tags(path, settings=settings, exiftool=et)  # the user's correction is theirs (the
    assert keywords(path) == (["Emotion|Positive"], ["Positive"])  # word Emotion was ours)


def test_uncertain_writes_no_keyword_removes_ours_and_records_the_values(photo, et, settings):
    path = photo("full.jpg")
    write_tags(path, corpus.emotion("positive"), settings=settings, exiftool=et)
    result = write_tags(path, corpus.emotion("negative", 0.4, uncertain=True), settings=settings,
                        exiftool=et)
    assert result.action == "embedded"
    hier, flat = keywords(path)
    assert hier == ["Places|Beach"]
    assert flat == ["Beach", "Family", "Places"]
    tags = corpus.tags_of(path)
    assert corpus.as_list(tags["IPTC:Keywords"]) == ["Beach", "Family", "Places"]
    assert "IFD0:XPKeywords" not in tags
    assert tags["XMP-emowatch:Uncertain"] in (True, "True")
    assert "XMP-emowatch:Keyword" not in tags
    back = read_tags(path, exiftool=et)
    assert back.uncertain and back.label == "negative" and back.confidence == 0.4


def test_dry_run_says_what_would_change_and_touches_nothing(photo, et, settings, tags):
    path = photo("full.jpg")
    original, stat = path.read_bytes(), os.stat(path)
    result = write_tags(path, tags, settings=settings, exiftool=et, dry_run=True)
    assert result.action == "would-write"
    assert "lr:hierarchicalSubject: +Emotion|Positive" in result.changes
    assert "IPTC:Keywords: +Emotion +Positive" in result.changes
    assert path.read_bytes() == original and os.stat(path).st_mtime_ns == stat.st_mtime_ns
    write_tags(path, tags, settings=settings, exiftool=et)
    tagged = path.read_bytes()
    result = remove_tags(path, settings=settings, exiftool=et, dry_run=True)
    assert result.action == "would-write" and "remove emowatch values (XMP)" in result.changes
    assert path.read_bytes() == tagged


def test_mtime_is_updated_by_default_and_kept_when_asked(photo, et, tags):
    path = photo("plain.jpg")
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    write_tags(path, tags, settings=Settings(), exiftool=et)
    assert os.stat(path).st_mtime_ns > 1_000_000_000_000_000_000
    other = photo("plain.png")
    os.utime(other, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    write_tags(other, tags, settings=Settings(preserve_mtime=True), exiftool=et)
    assert os.stat(other).st_mtime_ns == 1_000_000_000_000_000_000


# -- raw files ----------------------------------------------------------------------------


def test_raw_gets_a_lightroom_named_sidecar_and_is_never_written(tmp_path, et, exiv2_bin,
                                                                 settings, tags):
    raw = corpus.fake_raw(tmp_path / "IMG_1234.CR2")
    original = raw.read_bytes()
    result = write_tags(raw, tags, settings=settings, exiftool=et)
    assert result.action == "sidecar" and result.target == tmp_path / "IMG_1234.xmp"
    assert "raw" in result.reason
    assert raw.read_bytes() == original
    side = corpus.tags_of(result.target)
    assert corpus.as_list(side["XMP-lr:HierarchicalSubject"]) == ["Emotion|Positive"]
    assert corpus.exiv2_xmp(result.target)["Xmp.lr.hierarchicalSubject"] == "Emotion|Positive"
    assert write_tags(raw, tags, settings=settings, exiftool=et).action == "unchanged"
    assert remove_tags(raw, settings=settings, exiftool=et).action == "removed"
    assert not result.target.exists()  # created by us, nothing else in it: deleted


def test_two_raw_files_of_one_name_do_not_share_a_sidecar(tmp_path, et, settings, tags):
    # IMG.CR2 and IMG.NEF both wrote IMG.xmp: each tag overwrote the other's answer, one was
    # reported "unchanged" when it was not, and untag of one removed the other's values
    cr2, nef = corpus.fake_raw(tmp_path / "IMG.CR2"), corpus.fake_raw(tmp_path / "IMG.NEF")
    negative = corpus.emotion("negative")
    assert write_tags(cr2, tags, settings=settings, exiftool=et).target == tmp_path / "IMG.CR2.xmp"
    assert write_tags(nef, negative, settings=settings, exiftool=et).target == tmp_path / "IMG.NEF.xmp"
    assert not (tmp_path / "IMG.xmp").exists()
    sides = {p: p.read_bytes() for p in tmp_path.glob("*.xmp")}
    assert write_tags(cr2, tags, settings=settings, exiftool=et).action == "unchanged"
    assert write_tags(nef, negative, settings=settings, exiftool=et).action == "unchanged"
    assert {p: p.read_bytes() for p in tmp_path.glob("*.xmp")} == sides
    assert remove_tags(cr2, settings=settings, exiftool=et).action == "removed"
    assert corpus.tags_of(tmp_path / "IMG.NEF.xmp")["XMP-lr:HierarchicalSubject"] == "Emotion|Negative"


def test_a_raw_file_tagged_alone_keeps_its_sidecar_when_a_twin_arrives(tmp_path, et, settings, tags):
    # IMG.CR2 tagged into IMG.xmp; IMG.NEF landing later: untag of IMG.CR2 no longer found
    # IMG.xmp (it left our keywords), and a re-tag wrote a second sidecar
    cr2 = corpus.fake_raw(tmp_path / "IMG.CR2")
    assert write_tags(cr2, tags, settings=settings, exiftool=et).target == tmp_path / "IMG.xmp"
    nef = corpus.fake_raw(tmp_path / "IMG.NEF")
    negative = corpus.emotion("negative")
    assert write_tags(nef, negative, settings=settings, exiftool=et).target == tmp_path / "IMG.NEF.xmp"
    assert corpus.tags_of(tmp_path / "IMG.xmp")["XMP-lr:HierarchicalSubject"] == "Emotion|Positive"
    again = write_tags(cr2, tags, settings=settings, exiftool=et)
    assert (again.action, again.target) == ("unchanged", tmp_path / "IMG.xmp")
    assert remove_tags(cr2, settings=settings, exiftool=et).action == "removed"
    assert sorted(p.name for p in tmp_path.glob("*.xmp")) == ["IMG.NEF.xmp"]


def test_a_raw_file_reached_through_a_symlink_has_the_sidecar_of_the_file_behind_it(
        tmp_path, et, settings, tags):
    # tagged by its link it got links/R.xmp, by its own path real/R.xmp: two sidecars, and
    # untag by one path left the other's values
    (tmp_path / "real").mkdir()
    raw = corpus.fake_raw(tmp_path / "real" / "R.CR2")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "R.CR2").symlink_to(raw)
    assert write_tags(tmp_path / "links" / "R.CR2", tags, settings=settings, exiftool=et).target == \
        tmp_path / "real" / "R.xmp"
    assert write_tags(raw, tags, settings=settings, exiftool=et).action == "unchanged"
    assert not list((tmp_path / "links").glob("*.xmp"))
    assert remove_tags(raw, settings=settings, exiftool=et).action == "removed"
    assert not list(tmp_path.rglob("*.xmp"))
    # one an earlier version wrote beside the link is found by untag through the link
    old = tmp_path / "links" / "R.xmp"
    write_tags(raw, tags, settings=settings, exiftool=et)
    (tmp_path / "real" / "R.xmp").rename(old)
    assert remove_tags(tmp_path / "links" / "R.CR2", settings=settings, exiftool=et).action == "removed"
    assert not list(tmp_path.rglob("*.xmp"))


def test_preserve_mtime_keeps_the_photos_time_and_gives_its_sidecar_a_new_one(tmp_path, et, tags):
    # Lightroom and darktable notice a changed sidecar by its time: it kept the old one
    raw = corpus.fake_raw(tmp_path / "IMG_1.CR2")
    side = corpus.lightroom_sidecar(tmp_path / "IMG_1.xmp")
    for path in (raw, side):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    write_tags(raw, tags, settings=Settings(preserve_mtime=True), exiftool=et)
    assert os.stat(raw).st_mtime_ns == 1_000_000_000_000_000_000
    assert os.stat(side).st_mtime_ns > 1_000_000_000_000_000_000


def test_a_file_named_as_raw_is_never_written_whatever_it_holds(tmp_path, photo, et, settings, tags):
    # JPEG bytes under a raw name (a camera's or a converter's doing): raw converters read the
    # sidecar of a .CR2, and a file named raw is never rewritten
    raw = photo("full.jpg", "IMG_5678.CR2")
    original = raw.read_bytes()
    result = write_tags(raw, tags, settings=settings, exiftool=et)
    assert result.action == "sidecar" and result.target == tmp_path / "IMG_5678.xmp"
    assert raw.read_bytes() == original
    assert corpus.as_list(corpus.tags_of(result.target)["XMP-lr:HierarchicalSubject"]) == ["Emotion|Positive"]
    assert remove_tags(raw, settings=settings, exiftool=et).action == "removed"
    assert raw.read_bytes() == original and not result.target.exists()


def test_untag_takes_out_what_an_earlier_version_embedded_in_a_jpeg_named_as_raw(
        tmp_path, photo, et, settings, tags):
    raw = photo("full.jpg", "IMG_5679.CR2")
    before = corpus.tags_of(raw)
    write_tags(raw, tags, settings=settings, exiftool=et)  # the sidecar, today
    then = photo("full.jpg", "then.jpg")
    write_tags(then, tags, settings=settings, exiftool=et)  # in place, as before written_as
    raw.write_bytes(then.read_bytes())
    result = remove_tags(raw, settings=settings, exiftool=et)
    assert result.action == "removed"
    assert not (tmp_path / "IMG_5679.xmp").exists() and b"emowatch" not in raw.read_bytes()
    after = corpus.tags_of(raw)
    for key in ("XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "IFD0:XPKeywords"):
        assert after.get(key) == before.get(key), key


def test_existing_lightroom_sidecar_is_merged_into_and_only_cleaned_on_untag(
        tmp_path, et, settings, tags):
    raw = corpus.fake_raw(tmp_path / "IMG_1234.NEF")
    side = corpus.lightroom_sidecar(tmp_path / "IMG_1234.xmp")
    before = corpus.tags_of(side)
    result = write_tags(raw, tags, settings=settings, exiftool=et)
    assert result.target == side
    after = corpus.tags_of(side)
    assert corpus.as_list(after["XMP-lr:HierarchicalSubject"]) == ["Places|Beach",
                                                                   "Emotion|Positive"]
    for key in ("XMP-crs:Exposure2012", "XMP-xmp:Rating", "XMP-dc:Title",
                "XMP-xmpMM:HistoryAction"):
        assert after[key] == before[key]
    remove_tags(raw, settings=settings, exiftool=et)
    assert side.exists()
    cleaned = corpus.tags_of(side)
    assert {k: v for k, v in cleaned.items() if not k.startswith("System:")} == {
        k: v for k, v in before.items() if not k.startswith("System:")}


def test_a_sidecar_that_links_to_nothing_is_named_in_the_error(tmp_path, et, settings, tags):
    raw = corpus.fake_raw(tmp_path / "IMG_9.CR2")
    (tmp_path / "IMG_9.xmp").symlink_to(tmp_path / "gone" / "IMG_9.xmp")
    with pytest.raises(MetadataError, match=r"its sidecar IMG_9.xmp is a symbolic link to .*gone"):
        write_tags(raw, tags, settings=settings, exiftool=et)
    assert (tmp_path / "IMG_9.xmp").is_symlink() and not (tmp_path / "gone").exists()


def test_darktable_style_sidecar_is_preferred_when_it_exists(tmp_path, et, settings, tags):
    raw = corpus.fake_raw(tmp_path / "IMG_7.CR2")
    darktable = corpus.lightroom_sidecar(tmp_path / "IMG_7.CR2.xmp")
    result = write_tags(raw, tags, settings=settings, exiftool=et)
    assert result.target == darktable
    assert not (tmp_path / "IMG_7.xmp").exists()
    assert read_tags(raw) is not None


@pytest.mark.parametrize("first", ["ours", "lightroom"])
def test_a_raw_tagged_before_darktables_sidecar_appeared_keeps_its_values_in_one_place(
        tmp_path, et, settings, tags, first):
    # tagged into IMG_8.xmp; then darktable made IMG_8.CR2.xmp, which a re-tag now uses: the
    # values in IMG_8.xmp would otherwise stay behind, disagreeing, and untag would miss them
    raw = corpus.fake_raw(tmp_path / "IMG_8.CR2")
    lightroom = tmp_path / "IMG_8.xmp"
    if first == "lightroom":
        corpus.lightroom_sidecar(lightroom)
    before = corpus.tags_of(lightroom) if first == "lightroom" else None
    assert write_tags(raw, tags, settings=settings, exiftool=et).target == lightroom
    darktable = corpus.lightroom_sidecar(tmp_path / "IMG_8.CR2.xmp")
    darktable_before = corpus.tags_of(darktable)
    result = write_tags(raw, corpus.emotion("negative"), settings=settings, exiftool=et)
    assert result.target == darktable
    assert read_tags(raw, exiftool=et).label == "negative"
    if first == "ours":
        assert not lightroom.exists()  # created by us, nothing else in it
    else:  # the user's own sidecar is cleaned, never deleted
        assert {k: v for k, v in corpus.tags_of(lightroom).items() if not k.startswith("System:")} == {
            k: v for k, v in before.items() if not k.startswith("System:")}
    assert any(c == f"remove emowatch values (sidecar {lightroom.name})" for c in result.changes)
    remove_tags(raw, settings=settings, exiftool=et)
    assert {k: v for k, v in corpus.tags_of(darktable).items() if not k.startswith("System:")} == {
        k: v for k, v in darktable_before.items() if not k.startswith("System:")}
    for side in tmp_path.glob("IMG_8*.xmp"):
        assert b"emowatch" not in side.read_bytes(), side
    assert read_tags(raw, exiftool=et) is None


@pytest.mark.parametrize("second", ["dangling link", "empty file", "folder"])
def test_a_second_sidecar_that_holds_nothing_of_ours_is_left_alone(tmp_path, et, settings, tags, second):
    raw = corpus.fake_raw(tmp_path / "IMG_9.CR2")
    darktable = corpus.lightroom_sidecar(tmp_path / "IMG_9.CR2.xmp")
    other = tmp_path / "IMG_9.xmp"
    if second == "dangling link":
        other.symlink_to(tmp_path / "gone" / "IMG_9.xmp")
    elif second == "empty file":
        other.write_bytes(b"")
    else:
        other.mkdir()
    result = write_tags(raw, tags, settings=settings, exiftool=et)
    assert result.target == darktable and not any("IMG_9.xmp" in c for c in result.changes)
    assert read_tags(raw, exiftool=et).label == "positive"
    assert remove_tags(raw, settings=settings, exiftool=et).action == "removed"
    assert read_tags(raw, exiftool=et) is None and os.path.lexists(other)


def test_a_retag_that_only_cleans_an_older_sidecar_says_it_wrote(tmp_path, et, settings, tags):
    raw = corpus.fake_raw(tmp_path / "IMG_10.CR2")
    ours = write_tags(raw, tags, settings=settings, exiftool=et).target
    (tmp_path / "IMG_10.CR2.xmp").write_bytes(ours.read_bytes())  # darktable took a copy of it
    dry = write_tags(raw, tags, settings=settings, exiftool=et, dry_run=True)
    assert dry.action == "would-write" and os.path.exists(ours)
    result = write_tags(raw, tags, settings=settings, exiftool=et)
    assert result.action == "sidecar" and result.written and not ours.exists()


def test_symlinked_photo_is_written_through_and_stays_a_link(photo, tmp_path, et, settings, tags):
    real = photo("plain.jpg", "real.jpg")
    link = tmp_path / "link.jpg"
    link.symlink_to(real)
    result = write_tags(link, tags, settings=settings, exiftool=et)
    assert result.action == "embedded"
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert read_tags(real) is not None


@pytest.mark.parametrize("name", ["plain.jpg", "photo.tif"])
def test_untag_of_an_untagged_photo_does_nothing(name, photo, et, settings):
    path = photo(name)
    original = path.read_bytes()
    assert remove_tags(path, settings=settings, exiftool=et).action == "nothing-to-remove"
    assert path.read_bytes() == original


@pytest.mark.parametrize("second", ["negative", "positive"])
def test_tagging_with_exiftool_takes_our_values_out_of_the_older_sidecar(photo, et, settings, tags,
                                                                         second):
    # tagged once without exiftool (a sidecar), then with it (embedded): a sidecar still saying
    # Positive beside a photo saying Negative would have digiKam show both
    path = photo("photo.tif")
    side = write_tags(path, tags, settings=settings, exiftool=None).target
    user = corpus.exiftool("-q", "-overwrite_original", "-XMP-dc:Title=Harbour", side)
    assert user is not None
    result = write_tags(path, corpus.emotion(second), settings=settings, exiftool=et)
    assert result.action == "exiftool" and result.target == path
    assert any("sidecar photo.tif.xmp" in c for c in result.changes)
    left = corpus.tags_of(side)
    assert "XMP-lr:HierarchicalSubject" not in left and "XMP-dc:Subject" not in left
    assert not any(k.startswith("XMP-emowatch:") for k in left)
    assert left["XMP-dc:Title"] == "Harbour"  # the user's own entry in it stays
    assert read_tags(path, exiftool=et).label == second
    assert write_tags(path, corpus.emotion(second), settings=settings, exiftool=et).action == "unchanged"


def test_an_older_sidecar_that_cannot_be_cleaned_does_not_fail_the_written_photo(photo, et, settings, tags):
    path = photo("photo.tif")
    side = write_tags(path, tags, settings=settings, exiftool=None).target
    os.chmod(side, 0o444)  # emowatch refuses read-only files, whoever runs it
    result = write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et)
    assert result.action == "exiftool"
    assert any("the older sidecar photo.tif.xmp still holds emowatch's values" in c and "read-only" in c
               for c in result.changes)
    assert read_tags(path, exiftool=et).label == "negative"  # the photo is written, and says so
    again = write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=et)
    assert again.action == "unchanged"


def test_untag_also_cleans_the_sidecar_of_a_photo_tagged_before_exiftool_was_there(
        photo, et, settings, tags):
    path = photo("photo.tif")
    original = path.read_bytes()
    side = write_tags(path, tags, settings=settings, exiftool=None).target  # no exiftool yet
    result = remove_tags(path, settings=settings, exiftool=et)  # now there is
    assert result.action == "removed" and result.target == side
    assert any("sidecar photo.tif.xmp" in c for c in result.changes)
    assert not side.exists()
    assert read_tags(path, exiftool=et) is None
    assert path.read_bytes() == original
