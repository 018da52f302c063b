"""Keep passwords and keys out of everything we write: reports, step records, logs, attachments."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# user:password@ in any URL-ish string (postgresql://, s3 endpoints, http).
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
# key=value forms operators pass on command lines: password=..., PGPASSWORD=...
_KV_SECRET = re.compile(
    r"(?i)\b(?P<k>(?:PG)?PASSWORD|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_ACCESS_KEY_ID|secret|token)"
    r"(?P<sep>\s*[=:]\s*)(?P<v>[^\s&'\"]+)"
)

SECRET_ENV_NAMES = frozenset(
    {"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECURITY_TOKEN"}
)


class Redactor:
    """Masks known secret values plus anything that looks like a URL password or KEY=value secret."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = {s for s in secrets if s and len(s) >= 4}

    def add(self, *secrets: str | None) -> None:
        for s in secrets:
            if s and len(s) >= 4:
                self._secrets.add(s)

    def __call__(self, text: str | None) -> str:
        if not text:
            return text or ""
        # Longest first so a secret containing another is masked whole.
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, MASK)
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        return _KV_SECRET.sub(lambda m: f"{m['k']}{m['sep']}{MASK}", text)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """A copy of an environment safe to print."""
        return {k: (MASK if k in SECRET_ENV_NAMES else self(v)) for k, v in env.items()}


def redact_url(url: str) -> str:
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)
