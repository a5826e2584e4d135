import io

import numpy as np
import pytest
import soundfile as sf

from ser_core.audio import AudioError, load_audio, read_info
from ser_core.config import AudioConfig

SR = 16000


def tone(seconds=1.0, sr=SR, freq=220.0, amp=0.3):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, wave, sr=SR, **kw):
    sf.write(str(path), wave, sr, **kw)
    return path


def test_loads_trims_and_levels(tmp_path):
    silence = np.zeros(SR // 2, dtype=np.float32)
    wave = np.concatenate([silence, tone(1.0), silence])
    out = load_audio(write(tmp_path / "a.wav", wave))
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size / SR - 1.0) < 0.05  # half a second of silence gone at each end
    rms_db = 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
    assert rms_db == pytest.approx(-20.0, abs=0.1)


def test_resamples_and_mixes_to_mono(tmp_path):
    stereo = np.stack([tone(1.0, sr=44100), tone(1.0, sr=44100, freq=330)], axis=1)
    out = load_audio(write(tmp_path / "s.flac", stereo, sr=44100))
    assert abs(out.size - SR) < SR * 0.03
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(out.size, 1 / SR)
    top = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert top == pytest.approx([220, 330], abs=3)


def test_bytes_and_file_objects_and_ogg(tmp_path):
    path = write(tmp_path / "c.ogg", tone(0.8), format="OGG", subtype="VORBIS")
    data = path.read_bytes()
    a = load_audio(data, name="upload.ogg")
    b = load_audio(io.BytesIO(data))
    assert a.size == b.size and a.size > 0.7 * SR


def test_level_options():
    from ser_core.audio import clean

    wave = tone(1.0, amp=0.05)
    assert np.abs(clean(wave, AudioConfig(level="peak", target_dbfs=-6))).max() == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    assert np.allclose(clean(wave, AudioConfig(level="none")), wave[: clean(wave, AudioConfig(level="none")).size])


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10), "unreadable or corrupt"),
        (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4000)), "unreadable or corrupt"),
        (lambda p: write(p, np.zeros(SR, dtype=np.float32)), "silent"),
        (lambda p: write(p, np.concatenate([np.zeros(SR // 2), tone(0.1), np.zeros(SR // 2)])), "too short"),
        (lambda p: write(p, tone(3.0)), "too long"),
        (lambda p: write(p, np.full(SR, np.nan, dtype=np.float32), subtype="FLOAT"), "non-finite"),
    ],
)
def test_every_failure_names_the_file_and_the_cause(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path, AudioConfig(max_duration_s=2.0))
    assert err.value.path == str(path)
    assert reason in err.value.reason and str(path) in str(err.value)


def test_missing_file_and_empty_bytes():
    with pytest.raises(AudioError, match="no such file"):
        load_audio("/nonexistent/clip.wav")
    with pytest.raises(AudioError, match="empty"):
        load_audio(b"", name="upload.wav")


def test_read_info(tmp_path):
    duration, sr, channels = read_info(write(tmp_path / "i.wav", tone(1.5)))
    assert duration == pytest.approx(1.5) and sr == SR and channels == 1
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    with pytest.raises(AudioError, match="bad.wav"):
        read_info(bad)


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_a_speed_plays_the_clip_faster_or_slower_pitch_and_tempo_together(tmp_path, speed):
    path = write(tmp_path / "t.wav", tone(1.0, sr=22050, freq=300), sr=22050)
    out = load_audio(path, AudioConfig(speed=speed))
    assert out.size / SR == pytest.approx(1.0 / speed, rel=0.02)
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(out.size, 1 / SR)[spectrum.argmax()] == pytest.approx(300 * speed, abs=3)
    assert load_audio(path).size / SR == pytest.approx(1.0, rel=0.02)  # speed 1: as recorded
    with pytest.raises(ValueError, match="speed"):
        AudioConfig(speed=3.0)
