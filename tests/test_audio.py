"""kws.audio: wavs are read exactly, and every kind of bad wav gets an error naming the file."""

import struct

import numpy as np
import pytest
import soundfile as sf

from kws.audio import pad_or_trim, read_wav, resample, write_wav
from kws.errors import AudioError


def _wav(path, x, rate=16000, subtype="PCM_16"):
    sf.write(str(path), x, rate, subtype=subtype)
    return path


def test_reads_pcm16_values_exactly(tmp_path):
    ints = np.array([0, 1, -1, 16384, -32768, 32767], dtype=np.int16)
    p = _wav(tmp_path / "a.wav", ints)
    x = read_wav(p)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, ints.astype(np.float32) / 32768.0)


def test_write_then_read_round_trips_within_one_lsb(tmp_path):
    x = np.sin(np.linspace(0, 20, 16000)).astype(np.float32) * 0.5
    write_wav(tmp_path / "b.wav", x)
    assert np.max(np.abs(read_wav(tmp_path / "b.wav") - x)) <= 1 / 32768 + 1e-7


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: _wav(p, np.zeros(0, dtype=np.int16)), "empty"),
        (lambda p: _wav(p, np.zeros((800, 2), dtype=np.int16)), "2 channels"),
        (lambda p: _wav(p, np.zeros(8000, dtype=np.int16), rate=8000), "8000 Hz"),
        (lambda p: p.write_bytes(b"this is not audio at all" * 10), "not a readable audio file"),
        (lambda p: None, "no such file"),
    ],
)
def test_bad_wavs_give_one_line_errors_naming_the_file(tmp_path, make, words):
    p = tmp_path / "bad.wav"
    make(p)
    with pytest.raises(AudioError) as err:
        read_wav(p)
    msg = str(err.value)
    assert str(p) in msg and words in msg and "\n" not in msg


def test_truncated_wav_is_refused(tmp_path):
    p = _wav(tmp_path / "t.wav", np.ones(16000, dtype=np.int16))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        read_wav(p)


def test_header_data_size_is_checked_not_just_parsed(tmp_path):
    # A complete file whose data chunk claims one byte more than it holds is truncated too.
    p = _wav(tmp_path / "t.wav", np.ones(100, dtype=np.int16))
    data = bytearray(p.read_bytes())
    i = data.index(b"data")
    (n,) = struct.unpack("<I", data[i + 4 : i + 8])
    data[i + 4 : i + 8] = struct.pack("<I", n + 2)
    p.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="truncated"):
        read_wav(p)


def test_resample_and_mix_down_on_request(tmp_path):
    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    p = _wav(tmp_path / "s.wav", np.stack([tone, tone], axis=1), rate=44100, subtype="FLOAT")
    x = read_wav(p, resample_ok=True, mix_down=True)
    assert len(x) == 16000
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins over one second


def test_resample_22050_to_16000_keeps_a_tone():
    t = np.arange(22050) / 22050
    y = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 22050, 16000)
    assert len(y) == 16000 and np.argmax(np.abs(np.fft.rfft(y))) == 1000


def test_pad_or_trim_places_and_cuts():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(pad_or_trim(x, 8, offset=2), [0, 0, 1, 2, 3, 4, 5, 0])
    np.testing.assert_array_equal(pad_or_trim(x, 3, offset=-1), [2, 3, 4])
    np.testing.assert_array_equal(pad_or_trim(x, 4, offset=3), [0, 0, 0, 1])
