"""Protocol loading and validation: every bad case names the file and the field."""

from pathlib import Path

import pytest

from neuromer.errors import ProtocolError
from neuromer.protocol import read_protocol, shipped_protocols

GOOD = """
[protocol]
name = "lab"
[timing]
baseline_s = 2.0
stimulus_s = 30.0
[markers]
stimulus_on = "on:{stimulus_id}"
stimulus_off = "off:{stimulus_id}"
rating = "rate:{scale}:{value}"
[[streams]]
type = "EEG"
channels = ["Fz", "Cz"]
kind = "eeg"
[[stimuli]]
id = "a"
file = "a.wav"
meta = { quadrant = "Q1" }
[[stimuli]]
id = "b"
file = "sub/b.wav"
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.wav").write_bytes(b"RIFF")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "p.toml"
    path.write_text(text)
    return path


def test_good_protocol_loads_and_resolves_files(folder):
    p = read_protocol(write(folder, GOOD))
    assert p.name == "lab"
    assert p.timing.baseline_s == 2.0 and p.timing.stimulus_s == 30.0
    assert p.stimulus_ids == ["a", "b"]
    assert p.stimulus("b").file == (folder / "sub" / "b.wav").resolve()
    assert p.stimulus("a").meta == {"quadrant": "Q1"}
    assert p.channel_types == {"Fz": "eeg", "Cz": "eeg"}
    assert p.ratings.scales == ("valence", "arousal", "dominance", "liking")
    assert (p.ratings.min, p.ratings.max) == (1.0, 9.0)
    assert p.markers.parse("on:b") == ("stimulus_on", {"stimulus_id": "b"})
    assert p.markers.parse("rate:arousal:7.5") == ("rating", {"scale": "arousal", "value": "7.5"})
    assert p.markers.parse("something else") is None
    assert p.markers.format("stimulus_off", stimulus_id="a") == "off:a"


def test_dumps_round_trip(folder):
    p = read_protocol(write(folder, GOOD))
    again = write(folder, p.dumps())
    q = read_protocol(again)
    assert (q.timing, q.markers, q.ratings, q.streams) == (p.timing, p.markers, p.ratings, p.streams)
    assert [(s.id, s.file, s.meta) for s in q.stimuli] == [(s.id, s.file, s.meta) for s in p.stimuli]


@pytest.mark.parametrize("old, new, field", [
    ("baseline_s = 2.0", "basline_s = 2.0", "timing.basline_s"),          # unknown key (typo)
    ('name = "lab"', 'name = "lab"\ncolour = 1', "protocol.colour"),       # unknown key
    ('file = "a.wav"', 'file = "missing.wav"', "stimuli[0].file"),         # missing stimulus file
    ('id = "b"', 'id = "a"', "stimuli[1].id"),                             # duplicate id
    ('file = "sub/b.wav"', 'file = "../outside.wav"', "stimuli[1].file"),  # escapes the folder
    ('file = "sub/b.wav"', 'file = "sub/../../b.wav"', "stimuli[1].file"),  # escapes, disguised
    ('file = "sub/b.wav"', 'file = "/etc/b.wav"', "stimuli[1].file"),      # absolute path
    ("baseline_s = 2.0", "baseline_s = -1.0", "timing.baseline_s"),        # negative duration
    ("stimulus_s = 30.0", "stimulus_s = 0", "timing.stimulus_s"),          # zero stimulus
    ('kind = "eeg"', 'kind = "eggs"', "streams[0].kinds"),                 # unknown channel kind
    ('stimulus_on = "on:{stimulus_id}"', 'stimulus_on = "on"', "markers.stimulus_on"),  # no id field
    ("[[stimuli]]\nid = \"a\"", "[[stimuli]]\nid = \"\"", "stimuli[0].id"),  # empty id
])
def test_bad_protocols_name_file_and_field(folder, old, new, field):
    assert old in GOOD
    path = write(folder, GOOD.replace(old, new, 1))
    with pytest.raises(ProtocolError) as info:
        read_protocol(path)
    msg = str(info.value)
    assert str(path) in msg and field in msg
    assert "\n" not in msg


def test_symlinked_stimulus_folder_is_allowed(folder):
    shared = folder.parent / f"{folder.name}-shared"  # outside the protocol folder
    shared.mkdir()
    (folder / "sub" / "b.wav").rename(shared / "b.wav")
    (folder / "sub").rmdir()
    (folder / "sub").symlink_to(shared)
    proto = read_protocol(write(folder, GOOD))
    assert proto.stimuli[1].file.is_file()


def test_typo_suggests_the_right_key(folder):
    with pytest.raises(ProtocolError, match="did you mean 'baseline_s'"):
        read_protocol(write(folder, GOOD.replace("baseline_s", "basline_s")))


def test_not_toml_and_missing_file(folder):
    with pytest.raises(ProtocolError, match="not valid TOML"):
        read_protocol(write(folder, "[timing\nbaseline_s = 1"))
    with pytest.raises(ProtocolError, match="not found"):
        read_protocol(folder / "nope.toml")


def test_ratings_range_checked(folder):
    bad = GOOD + "\n[ratings]\nmin = 9\nmax = 1\n"
    with pytest.raises(ProtocolError, match="ratings.max"):
        read_protocol(write(folder, bad))


def test_check_files_off_allows_missing_audio(folder):
    p = read_protocol(write(folder, GOOD.replace("a.wav", "gone.wav")), check_files=False)
    assert p.stimulus("a").file.name == "gone.wav"


def test_shipped_deap_protocol():
    assert {"deap", "music_listening"} <= set(shipped_protocols())
    p = read_protocol("deap")
    assert len(p.stimuli) == 40 and p.timing.baseline_s == 3.0 and p.timing.stimulus_s == 60.0
    assert len(p.channel_names) == 40
    assert p.channel_names[:4] == ["Fp1", "AF3", "F3", "F7"] and p.channel_names[16] == "Fp2"
    kinds = list(p.channel_types.values())
    assert kinds.count("eeg") == 32
    assert kinds[32:] == ["eog", "eog", "emg", "emg", "gsr", "resp", "bio", "temperature"]


def test_shipped_music_listening_protocol():
    p = read_protocol("music_listening")
    assert p.stimuli and all(s.file.is_file() for s in p.stimuli)


@pytest.mark.parametrize("markers, kinds, example", [
    # the id field swallows every other marker: ratings would open trials of unknown stimuli
    ('stimulus_on = "{stimulus_id}"', ("markers.trial_start", "markers.stimulus_on"), "'trial_start'"),
    # 'stim/x/end' is read as the onset of a stimulus 'x/end': the trial never ends
    ('stimulus_on = "stim/{stimulus_id}"\nstimulus_off = "stim/{stimulus_id}/end"',
     ("markers.stimulus_on", "markers.stimulus_off"), "'stim/a/end'"),
    # a rating 'r/valence/5' is also stimulus 'valence/5'
    ('stimulus_on = "r/{stimulus_id}"\nrating = "r/{scale}/{value}"',
     ("markers.stimulus_on", "markers.rating"), "'r/a/0'"),
    # an identical template for two kinds
    ('trial_start = "go"\nbaseline_start = "go"', ("markers.trial_start", "markers.baseline_start"), "'go'"),
])
def test_ambiguous_marker_templates_are_refused(folder, markers, kinds, example):
    text = GOOD.replace('stimulus_on = "on:{stimulus_id}"\n', "").replace('stimulus_off = "off:{stimulus_id}"\n', "")
    text = text.replace("[markers]\n", "[markers]\n" + markers + "\n" + (
        'stimulus_off = "off:{stimulus_id}"\n' if "stimulus_off" not in markers else "") + (
        'stimulus_on = "on:{stimulus_id}"\n' if "stimulus_on" not in markers else ""))
    if "rating =" in markers:
        text = text.replace('rating = "rate:{scale}:{value}"\n', "")
    path = write(folder, text)
    with pytest.raises(ProtocolError) as info:
        read_protocol(path)
    msg = str(info.value)
    assert str(path) in msg and all(k in msg for k in kinds) and example in msg and "\n" not in msg


def test_unambiguous_vocabularies_still_load(folder):
    # fixed text differs somewhere in every pair: accepted (shipped protocols included)
    text = GOOD.replace('"on:{stimulus_id}"', '"stim/{stimulus_id}/on"').replace(
        '"off:{stimulus_id}"', '"stim/{stimulus_id}/off"').replace('"rate:{scale}:{value}"', '"{scale}={value}"')
    p = read_protocol(write(folder, text))
    assert p.markers.parse("stim/a/b/on") == ("stimulus_on", {"stimulus_id": "a/b"})
    assert p.markers.parse("valence=7.5") == ("rating", {"scale": "valence", "value": "7.5"})
    for name in ("deap", "music_listening"):
        read_protocol(name, check_files=False)


@pytest.mark.parametrize("sid", [" a", "a ", "a\nb", "a\tb"])
def test_stimulus_ids_no_marker_can_carry_are_refused(folder, sid):
    path = write(folder, GOOD.replace('id = "a"', f"id = {sid!r}".replace("'", '"').replace("\n", "\\n")
                        .replace("\t", "\\t")))
    with pytest.raises(ProtocolError, match=r"stimuli\[0\]\.id") as info:
        read_protocol(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_stimulus_id_read_back_as_a_rating_is_refused(folder):
    # templates 'x{stimulus_id}' and '{scale}{value}' overlap ('xa0' could be either)
    text = GOOD.replace('"on:{stimulus_id}"', '"x{stimulus_id}"').replace('"rate:{scale}:{value}"',
                                                                          '"{scale}{value}"')
    with pytest.raises(ProtocolError, match="markers.stimulus_on.*markers.rating"):
        read_protocol(write(folder, text))


def test_rating_template_that_cannot_read_its_own_scale_back(folder):
    # '{scale}{value}': a scale named 'v1' rated 9 writes 'v19', fine; 'v1' at 10 would be 'v110' ->
    # scale 'v11' (and 'v15.5' -> 'v15', '.5'): markers are written and read back at load.
    text = GOOD.replace('"rate:{scale}:{value}"', '"{scale}{value}"') + \
        '\n[ratings]\nscales = ["v1"]\nmin = 1\nmax = 10\n'
    with pytest.raises(ProtocolError, match="ratings.scales 'v1'.*read back as rating"):
        read_protocol(write(folder, text))


def test_deeply_nested_toml_is_a_protocol_error(folder):
    path = write(folder, "a = " + "[" * 50000 + "]" * 50000 + "\n")  # tomllib recurses per level
    with pytest.raises(ProtocolError, match="nested too deeply") as info:
        read_protocol(path)
    assert str(path) in str(info.value)
    path.write_bytes(b"name = \"\xff\xfe\"\n")
    with pytest.raises(ProtocolError, match="not UTF-8"):
        read_protocol(path)


@pytest.mark.parametrize("value", ["1e300", "1e6"])
def test_absurd_durations_are_refused(folder, value):
    with pytest.raises(ProtocolError, match=r"'timing.stimulus_s' must be <= 86400"):
        read_protocol(write(folder, GOOD.replace("stimulus_s = 30.0", f"stimulus_s = {value}")))
