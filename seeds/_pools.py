"""Deterministic pools of realistic text, built once per process with faker.

Faker costs ~100-200 us per value, far too slow for the hot path (1M rows). Generators therefore draw
from these pools with their own seeded ``random.Random``: the pools are fixed (same faker version, same
pool seed, same content in every process), the draws depend on the data seed, so the same seed gives
byte-identical data and a different seed gives different data.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from faker import Faker

POOL_SEED = 20260220  # fixed: pools never depend on the data seed
# Several scripts on purpose: Latin with accents, German, Japanese (CJK), Arabic (right-to-left).
LOCALES = ("en_US", "de_DE", "fr_FR", "ja_JP", "ar_AA")


@dataclass(frozen=True)
class Pools:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    emails: tuple[str, ...]
    companies: tuple[str, ...]
    cities: tuple[str, ...]
    countries: tuple[str, ...]  # ISO 3166 alpha-2
    words: tuple[str, ...]
    sentences: tuple[str, ...]
    paragraphs: tuple[str, ...]
    titles: tuple[str, ...]  # short, title-cased, several scripts (course and lecture titles)
    user_agents: tuple[str, ...]
    ipv4: tuple[str, ...]

    def pick(self, rng: random.Random, pool: tuple[str, ...]) -> str:
        return pool[int(rng.random() * len(pool))]

    def text(self, rng: random.Random, n_sentences: int) -> str:
        s = self.sentences
        return " ".join(s[int(rng.random() * len(s))] for _ in range(n_sentences))

    def big_text(self, rng: random.Random, n_bytes: int) -> str:
        """Paragraphs joined until about ``n_bytes`` of UTF-8 (large JSONB / TOAST rows)."""
        out: list[str] = []
        size = 0
        p = self.paragraphs
        while size < n_bytes:
            para = p[int(rng.random() * len(p))]
            out.append(para)
            size += len(para.encode()) + 2
        return "\n\n".join(out)


def _title(f: Faker) -> str:
    return str(f.catch_phrase() if hasattr(f, "catch_phrase") else f.sentence(nb_words=4)).rstrip(".")


@functools.lru_cache(maxsize=1)
def pools() -> Pools:
    """The process-wide pools (about 0.2 s to build, then cached)."""
    fakers = []
    for i, loc in enumerate(LOCALES):
        f = Faker(loc)
        f.seed_instance(POOL_SEED + i)
        fakers.append(f)
    en = fakers[0]
    first, last, cities, sentences, paragraphs, titles, words = [], [], [], [], [], [], []
    for f in fakers:
        first += [f.first_name() for _ in range(60)]
        last += [f.last_name() for _ in range(60)]
        cities += [f.city() for _ in range(20)]
        sentences += [f.sentence(nb_words=12) for _ in range(120)]
        paragraphs += [f.paragraph(nb_sentences=6) for _ in range(30)]
        titles += [f.sentence(nb_words=4).rstrip(".。") for _ in range(40)]
        words += [f.word() for _ in range(80)]
    titles += [_title(en) for _ in range(40)]
    return Pools(
        first_names=tuple(first),
        last_names=tuple(last),
        emails=tuple(en.unique.email() for _ in range(400)),
        companies=tuple(en.company() for _ in range(100)),
        cities=tuple(cities),
        countries=tuple(en.country_code() for _ in range(60)),
        words=tuple(words),
        sentences=tuple(sentences),
        paragraphs=tuple(paragraphs),
        titles=tuple(titles),
        user_agents=tuple(en.user_agent() for _ in range(30)),
        ipv4=tuple(en.ipv4_private() for _ in range(50)),
    )
