"""The Speech Commands hash split against the real assignments of v0.01 (same rule, 10% / 10%)."""

from pathlib import Path

import pytest

from kws.data import speech_commands as sc

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech_commands_v0.01"
needs_real = pytest.mark.skipif(not (REAL / "validation_list.txt").is_file(),
                                reason=f"{REAL} (real Speech Commands v0.01 lists) not present")


def _sample(entries, k=40):
    step = max(1, len(entries) // k)
    return entries[::step][:k]


@needs_real
@pytest.mark.parametrize("list_name, expected", [("validation_list.txt", "validation"),
                                                 ("testing_list.txt", "testing")])
def test_which_set_reproduces_the_published_lists(list_name, expected):
    entries = sc.read_list(REAL / list_name)
    assert len(entries) > 6000
    sample = _sample(entries)
    got = {e: sc.which_set(e, 10, 10) for e in sample}
    assert [e for e, s in got.items() if s != expected] == []


@needs_real
def test_clips_in_neither_list_are_training():
    listed = set(sc.read_list(REAL / "validation_list.txt")) | set(sc.read_list(REAL / "testing_list.txt"))
    present = sc.list_clips(REAL)
    train = [c for c in present if c not in listed]
    assert len(train) >= 100  # the shared folder holds 300 clips, about 200 of them train
    assert {sc.which_set(c, 10, 10) for c in train} == {"training"}
    # and the listed ones among the present clips are not called training
    assert all(sc.which_set(c, 10, 10) != "training" for c in present if c in listed)


def test_only_the_speaker_part_of_the_name_counts():
    a = sc.which_set("yes/0a7c2a8d_nohash_0.wav", 10, 10)
    assert sc.which_set("no/0a7c2a8d_nohash_3.wav", 10, 10) == a
    assert sc.which_set("/any/dir/0a7c2a8d_nohash_12.wav", 10, 10) == a
    assert sc.speaker_of("yes/0a7c2a8d_nohash_0.wav") == "0a7c2a8d"


def test_percentages_move_the_boundaries_as_tf_does():
    # Independent reference: the hash fraction of one name, computed here by hand.
    import hashlib

    name = "3cfc6b3a"
    frac = (int(hashlib.sha1(name.encode()).hexdigest(), 16) % 2**27) * (100.0 / (2**27 - 1))
    f = f"up/{name}_nohash_0.wav"
    assert sc.which_set(f, frac + 0.01, 0) == "validation"
    assert sc.which_set(f, frac - 0.01, 0.02) == "testing"
    assert sc.which_set(f, frac - 0.02, 0.01) == "training"


def test_split_proportions_on_many_names():
    names = [f"w/{i:08x}_nohash_0.wav" for i in range(20000)]
    sets = [sc.which_set(n, 10, 20) for n in names]
    assert abs(sets.count("validation") / len(names) - 0.10) < 0.01
    assert abs(sets.count("testing") / len(names) - 0.20) < 0.01


def test_ensure_split_lists_and_summary(tmp_path):
    names = [f"{i:08x}" for i in range(60)]
    for w in ("yes", "no"):
        (tmp_path / w).mkdir()
        for n in names:
            (tmp_path / w / f"{n}_nohash_0.wav").write_bytes(b"")
    (tmp_path / "_background_noise_").mkdir()
    (tmp_path / "_background_noise_" / "hum.wav").write_bytes(b"")
    origin = sc.ensure_split_lists(tmp_path, 10, 10)
    assert origin == {"validation_list.txt": "which_set", "testing_list.txt": "which_set"}
    val = sc.read_list(tmp_path / "validation_list.txt")
    test = sc.read_list(tmp_path / "testing_list.txt")
    assert val and test and not set(val) & set(test)
    assert all(sc.which_set(e, 10, 10) == "validation" for e in val)
    s = sc.summarize(tmp_path)
    assert s["clips"]["total"] == 120
    assert s["clips"]["validation"] == len(val) and s["clips"]["test"] == len(test)
    assert s["clips_per_word"]["yes"]["validation"] == len([e for e in val if e.startswith("yes/")])
    assert s["speakers_in_more_than_one_split"] == 0
    assert sum(s["speakers"].values()) == 60
    assert s["background_noise"] == ["hum.wav"]
    # a given list is kept as it is
    (tmp_path / "testing_list.txt").write_text("yes/00000000_nohash_0.wav\n")
    assert sc.ensure_split_lists(tmp_path, 10, 10)["testing_list.txt"] == "given"
    assert sc.read_list(tmp_path / "testing_list.txt") == ["yes/00000000_nohash_0.wav"]
