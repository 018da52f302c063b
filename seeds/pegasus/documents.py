"""File bodies Pegasus stores: transcripts (WebVTT), notes (Markdown), JSON artifacts, SRT and PDF exports.

All deterministic: they depend only on their arguments (text drawn by the caller from seeded pools).
"""

from __future__ import annotations

import json
from typing import Any


def _clock(ms: int, sep: str = ".") -> str:
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def cues(lines: list[str], duration_ms: int) -> list[tuple[int, int, str]]:
    step = max(1, duration_ms // max(1, len(lines)))
    return [(i * step, min(duration_ms, (i + 1) * step), t) for i, t in enumerate(lines)]


def webvtt(lines: list[str], duration_ms: int, language: str) -> bytes:
    out = ["WEBVTT", f"Language: {language}", ""]
    for i, (a, b, t) in enumerate(cues(lines, duration_ms), 1):
        out += [str(i), f"{_clock(a)} --> {_clock(b)}", t, ""]
    return "\n".join(out).encode()


def srt(lines: list[str], duration_ms: int) -> bytes:
    out: list[str] = []
    for i, (a, b, t) in enumerate(cues(lines, duration_ms), 1):
        out += [str(i), f"{_clock(a, ',')} --> {_clock(b, ',')}", t, ""]
    return "\r\n".join(out).encode()


def markdown(title: str, sections: list[tuple[str, str]]) -> bytes:
    out = [f"# {title}", ""]
    for head, body in sections:
        out += [f"## {head}", "", body, ""]
    return "\n".join(out).encode()


def json_doc(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def pdf(title: str, lines: list[str]) -> bytes:
    """A minimal valid one-page PDF 1.4 (Helvetica; non-Latin-1 characters become '?')."""

    def lit(s: str) -> str:
        s = s.encode("latin-1", "replace").decode("latin-1")
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = [f"BT /F1 16 Tf 56 780 Td ({lit(title)}) Tj ET"]
    y = 750
    for ln in lines[:40]:
        text.append(f"BT /F1 10 Tf 56 {y} Td ({lit(ln[:95])}) Tj ET")
        y -= 16
    stream = "\n".join(text).encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
