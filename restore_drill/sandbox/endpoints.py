"""What a drill's steps may connect to: its Postgres (socket folder, TCP port), S3 endpoint, stand-in API."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

LOOPBACK = ("127.0.0.1", "::1")
# Variables whose URLs name something the drill created (bound by fixtures/environment.bind, or the
# stand-in API's URL set by the runner's hook). Other variables never widen what a step may reach.
# A system's own names for the database URL (e.g. ARQONBUS_POSTGRES_URL) are bound to the same URL as
# DATABASE_URL, so DATABASE_URL alone names the drill's database.
DB_VARIABLES = ("DATABASE_URL",)
# S3_TLS_URL: the TLS front a pgBackRest drill puts before its S3 (fixtures/s3/tls.py).
HTTP_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "API_BASE_URL", "S3_TLS_URL")


@dataclass(frozen=True)
class Endpoint:
    """One thing a step may reach: ``what`` (e.g. "the drill's PostgreSQL"), and either a TCP
    ``host``/``port`` or a unix ``socket_dir``."""

    what: str
    host: str = ""
    port: int = 0
    socket_dir: str = ""

    def __str__(self) -> str:
        if self.socket_dir:
            return f"{self.what}: unix sockets in {self.socket_dir}"
        return f"{self.what}: tcp {self.host}:{self.port}"


@dataclass(frozen=True)
class Endpoints:
    """The allowed endpoints; loopback ones are allowed on both 127.0.0.1 and ::1 (``localhost``)."""

    items: tuple[Endpoint, ...] = ()
    _addrs: frozenset[tuple[str, int]] = field(default=frozenset(), repr=False)

    @classmethod
    def of(cls, items: Iterable[Endpoint]) -> Endpoints:
        """Endpoints from ``items``; an endpoint named by host name (an external server) also allows the
        system's name servers on port 53, or the step could not resolve it."""
        its = tuple(dict.fromkeys(items))
        names = sorted({e.host for e in its if e.port and e.host and not _is_ip(e.host) and e.host != "localhost"})
        if names:
            its += tuple(Endpoint(f"name server (to resolve {', '.join(names)})", host=ns, port=53)
                         for ns in nameservers())
        addrs: set[tuple[str, int]] = set()
        for e in its:
            if not e.port:
                continue
            for ip in _addresses(e.host):
                addrs.add((ip, e.port))
                if ipaddress.ip_address(ip).is_loopback:
                    addrs.update((lo, e.port) for lo in LOOPBACK)
        return cls(its, frozenset(addrs))

    @property
    def tcp_ports(self) -> list[int]:
        return sorted({p for _, p in self._addrs})

    @property
    def socket_dirs(self) -> list[str]:
        return sorted({e.socket_dir for e in self.items if e.socket_dir})

    def allows_tcp(self, ip: str, port: int) -> bool:
        return (ip, port) in self._addrs

    def describe(self) -> list[str]:
        return [str(e) for e in self.items]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The ``nameserver`` addresses of resolv.conf (resolv.conf(5)); [] when it cannot be read."""
    try:
        lines = Path(resolv_conf).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [p[1] for p in (ln.split() for ln in lines) if len(p) >= 2 and p[0] == "nameserver" and _is_ip(p[1])]


def _addresses(host: str) -> list[str]:
    if host in ("", "localhost"):
        return ["127.0.0.1"]
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        return sorted({str(ai[4][0]) for ai in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})
    except OSError:
        return []


def postgres_endpoints(url: str, what: str = "the drill's PostgreSQL") -> list[Endpoint]:
    """Socket folder(s) and TCP host:port of a libpq URL (``?host=/dir`` query parameters included)."""
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    port = int((q.get("port") or [str(parts.port or 5432)])[0])
    hosts = [h for v in q.get("host", []) for h in v.split(",")] or [parts.hostname or ""]
    out: list[Endpoint] = []
    for h in hosts:
        if h.startswith("/"):
            out.append(Endpoint(what, socket_dir=h.rstrip("/") or "/"))
        elif h:
            out.append(Endpoint(what, host=h, port=port))
    if any(e.socket_dir for e in out) and port:
        # fixtures/embedded.py serves the same port on TCP 127.0.0.1 (for runbooks naming -h localhost).
        out.append(Endpoint(what, host="127.0.0.1", port=port))
    return out


def http_endpoint(url: str, what: str) -> Endpoint | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return Endpoint(what, host=parts.hostname, port=parts.port or (443 if parts.scheme == "https" else 80))


def from_variables(variables: Mapping[str, str], s3_url: str | None = None) -> Endpoints:
    """The endpoints named by the drill's own bound variables (see DB_VARIABLES, HTTP_VARIABLES)."""
    items: list[Endpoint] = []
    for name in DB_VARIABLES:
        if variables.get(name):
            items += postgres_endpoints(variables[name])
    labels = {"AWS_ENDPOINT_URL": "the drill's S3 endpoint", "AWS_ENDPOINT_URL_S3": "the drill's S3 endpoint",
              "API_BASE_URL": "the drill's API (stand-in)", "S3_TLS_URL": "the drill's S3 endpoint (TLS front)"}
    urls: list[tuple[str | None, str]] = [(s3_url, "the drill's S3 endpoint")] if s3_url else []
    urls += [(variables.get(n), labels[n]) for n in HTTP_VARIABLES]
    for url, what in urls:
        if url and (e := http_endpoint(url, what)) is not None:
            items.append(e)
    return Endpoints.of(items)
