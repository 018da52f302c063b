"""Small valid PCM WAV files, deterministic (same arguments -> same bytes)."""

from __future__ import annotations

import math
import random
import struct
import sys
from array import array

SAMPLE_RATE = 8000  # telephone quality keeps seeded lecture audio a few KB per second


def _header(n_data: int, sample_rate: int, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + n_data) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
            + b"data" + struct.pack("<I", n_data))


def tone_wav(rng: random.Random, duration_ms: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit PCM: a few sine tones in sequence (speech-like pitch range), with a fade at the ends."""
    n = sample_rate * duration_ms // 1000
    samples = array("h", bytes(2 * n))
    pos = 0
    while pos < n:
        seg = min(n - pos, int(sample_rate * (0.08 + rng.random() * 0.25)))
        freq = 110 + rng.random() * 330
        amp = 4000 + rng.random() * 9000
        step = 2 * math.pi * freq / sample_rate
        for i in range(seg):
            samples[pos + i] = int(amp * math.sin(step * i))
        pos += seg
    fade = min(n // 2, sample_rate // 50)
    for i in range(fade):
        samples[i] = samples[i] * i // fade
        samples[n - 1 - i] = samples[n - 1 - i] * i // fade
    if sys.byteorder != "little":
        samples.byteswap()
    data = samples.tobytes()
    return _header(len(data), sample_rate) + data


def noise_wav(rng: random.Random, n_bytes: int, sample_rate: int = 16000) -> bytes:
    """A WAV of about ``n_bytes`` total of noise: large objects cheaply (above multipart thresholds)."""
    n_data = max(0, (n_bytes - 44)) & ~1
    return _header(n_data, sample_rate) + rng.randbytes(n_data)


def duration_ms(wav: bytes) -> int:
    """Duration of a PCM WAV made by this module."""
    channels, rate = struct.unpack_from("<HI", wav, 22)
    bits = struct.unpack_from("<H", wav, 34)[0]
    n_data = struct.unpack_from("<I", wav, 40)[0]
    return n_data * 1000 // (rate * channels * bits // 8)
