"""Markdown runbook -> ordered sections and steps, with the line each came from.

A deliberately small reader for the Markdown operators write, not a full CommonMark parser:
ATX and setext headings, fenced code blocks (``` or ~~~, any indentation, longer fences nest
shorter ones), numbered and task-list checklist lines. Each fenced block is one step; shell
blocks run, other languages are recorded; numbered/task checklist lines without a block are
manual steps (recorded, never run).

A block may carry its own phase, so backup and restore blocks under one heading are phased right:
in its info string (```` ```bash restore-drill:backup ````) or in an HTML comment on the line(s)
right before it (``<!-- restore-drill:restore -->``). Phases: setup, backup, restore, verify, never.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from restore_drill.errors import BadInput

StepKind = Literal["shell", "manual", "other"]

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "zsh", "ksh"})

_FENCE_OPEN = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_ATX = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(?P<ch>=+|-+)[ \t]*$")
_NUMBERED = re.compile(r"^(?P<indent>[ \t]*)(?P<num>\d{1,9})[.)][ \t]+(?P<text>\S.*)$")
_TASK = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+\[[ xX]\][ \t]+(?P<text>\S.*)$")
_PHASE_MARK = re.compile(r"\brestore-drill:(?P<phase>setup|backup|restore|verify|never)\b")
_COMMENT_MARK = re.compile(r"^\s*<!--.*?\brestore-drill:(?P<phase>[a-z]+)\b.*?-->\s*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")


@dataclass(frozen=True)
class Step:
    kind: StepKind
    text: str  # block content (dedented) or the checklist item's text
    line: int  # 1-based line of the fence opening or checklist item
    language: str = ""  # info-string language of a fenced block ("" for manual steps / untagged)
    index: int = 0  # 1-based position among the section's steps
    phase: str = ""  # the block's own phase marker ("" when it has none)

    @property
    def runnable(self) -> bool:
        return self.kind == "shell"

    def first_line(self) -> str:
        return next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")


@dataclass
class Section:
    heading: str  # heading text; "" for content before the first heading
    level: int  # 1-6; 0 for the preamble
    line: int
    path: tuple[str, ...] = ()  # enclosing headings, outermost first, ending with this one
    steps: list[Step] = field(default_factory=list)

    @property
    def shell_steps(self) -> list[Step]:
        return [s for s in self.steps if s.kind == "shell"]


@dataclass
class Runbook:
    source: str
    sections: list[Section]

    @property
    def title(self) -> str:
        return next((s.heading for s in self.sections if s.level == 1), "")

    def steps(self) -> list[tuple[Section, Step]]:
        return [(sec, st) for sec in self.sections for st in sec.steps]

    def find(self, name: str) -> list[Section]:
        """Sections whose heading (or `Parent > Child` heading path suffix) matches ``name``."""
        want = tuple(normalize(p) for p in name.split(" > "))
        return [s for s in self.sections if tuple(normalize(h) for h in s.path[-len(want):]) == want]


def normalize(heading: str) -> str:
    return " ".join(heading.replace("`", "").split()).casefold()


def _language(info: str) -> str:
    info = info.strip()
    if not info:
        return ""
    word = info.split()[0].strip("{}.").lower()
    # e.g. ```{.bash} or ```bash=  or ```sh title="x"
    return re.split(r"[^a-z0-9_+-]", word, maxsplit=1)[0]


def _block_phase(lines: list[str], fence_at: int, info: str, source: str) -> str:
    """The phase a block's own marker gives: in its info string, or an HTML comment just above it."""
    m = _PHASE_MARK.search(info)
    if m is None:
        k = fence_at - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        c = _COMMENT_MARK.match(lines[k]) if k >= 0 else None
        if c is not None:
            if c["phase"] not in ("setup", "backup", "restore", "verify", "never"):
                raise BadInput(f"{source}:{k + 1}: restore-drill:{c['phase']} is not a phase; use one of "
                               "setup, backup, restore, verify, never")
            return c["phase"]
        return ""
    return m["phase"]


def _dedent(lines: list[str], indent: int) -> str:
    out = []
    for ln in lines:
        strip = min(indent, len(ln) - len(ln.lstrip(" ")))
        out.append(ln[strip:])
    return "\n".join(out)


def parse_runbook(text: str, source: str) -> Runbook:
    """Parse an operator's Markdown runbook; BadInput if it is malformed or has nothing to run."""
    lines = text.splitlines()
    sections: list[Section] = [Section("", 0, 1, ())]
    stack: list[tuple[int, str]] = []  # (level, heading) of enclosing headings
    prev_paragraph: int | None = None  # index of a plain paragraph line a setext underline could close
    i = 0

    def add(step: Step) -> None:
        sec = sections[-1]
        sec.steps.append(Step(step.kind, step.text, step.line, step.language, len(sec.steps) + 1, step.phase))

    def open_section(heading: str, level: int, line: int) -> None:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        sections.append(Section(heading, level, line, tuple(h for _, h in stack)))

    while i < len(lines):
        line = lines[i]
        m = _FENCE_OPEN.match(line)
        if m and not (m["fence"][0] == "`" and "`" in m["info"]):
            fence, indent = m["fence"], len(m["indent"])
            close = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            if j >= len(lines):
                raise BadInput(
                    f"{source}:{i + 1}: code block opened with {fence} is never closed; close it with {fence}"
                )
            lang = _language(m["info"])
            kind: StepKind = "shell" if lang in SHELL_LANGUAGES else "other"
            add(Step(kind, _dedent(lines[i + 1:j], indent), i + 1, lang, phase=_block_phase(lines, i, m["info"], source)))
            i, prev_paragraph = j + 1, None
            continue
        atx = _ATX.match(line)
        if atx:
            open_section((atx["text"] or "").strip(), len(atx["hashes"]), i + 1)
            i, prev_paragraph = i + 1, None
            continue
        st = _SETEXT.match(line)
        if st and prev_paragraph is not None and prev_paragraph == i - 1:
            heading = lines[prev_paragraph].strip()
            # The underlined line was taken as text of the previous section: it is a heading.
            open_section(heading, 1 if st["ch"][0] == "=" else 2, prev_paragraph + 1)
            i, prev_paragraph = i + 1, None
            continue
        item = _NUMBERED.match(line) or _TASK.match(line)
        if item:
            text_parts = [item["text"].strip()]
            base = len(item["indent"].expandtabs(4))
            j = i + 1
            # Continuation lines of the same item (indented deeper, or lazy), up to a blank line,
            # another list item, a heading or a fence.
            while j < len(lines) and lines[j].strip() and not (
                _LIST_ITEM.match(lines[j]) or _ATX.match(lines[j]) or _FENCE_OPEN.match(lines[j])
            ):
                if len(lines[j]) - len(lines[j].lstrip()) < base:
                    break
                text_parts.append(lines[j].strip())
                j += 1
            k = j
            while k < len(lines) and not lines[k].strip():
                k += 1
            nested = _FENCE_OPEN.match(lines[k]) if k < len(lines) else None
            # An item whose code block follows it (nested under it, or introduced by a trailing colon:
            # "4. Run integrity checks:" + block) is that block's step, not a manual one.
            introduces = nested is not None and (len(nested["indent"]) > base or text_parts[-1].endswith(":"))
            if not introduces:
                add(Step("manual", " ".join(text_parts), i + 1))
            i, prev_paragraph = j, None
            continue
        # A plain paragraph line: a setext underline right after it makes it a heading.
        is_text = bool(line.strip()) and not _LIST_ITEM.match(line) and not line.startswith(("    ", "\t"))
        prev_paragraph = i if is_text else None
        i += 1

    book = Runbook(source, [s for s in sections if s.level > 0 or s.steps])
    if not any(s.kind == "shell" for _, s in book.steps()):
        raise BadInput(
            f"{source} has no ```bash block to run; tag the runbook's shell commands with ```bash "
            "(```sh and ```shell also work)"
        )
    return book
