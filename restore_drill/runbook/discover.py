"""What a runbook names literally: databases, roles, hosts, buckets, containers, rclone remotes, host folders
(``cd /srv/app``) and tools called by absolute path (``/usr/local/bin/aws``).

``restore-drill init`` writes these into the starter binding's ``[names]`` so the runbook runs as
written (the drill's database carries the name it uses, its roles exist, its buckets are the drill's).
A reader of shell words (``shlex``), not a shell: variables (``$DB``) are left to the environment, and
what it cannot tell is not guessed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from .binding import RESERVED_HOST_FOLDERS
from .parser import Runbook

PG_TOOLS = ("pg_dump", "pg_restore", "psql", "pg_dumpall", "createdb", "dropdb", "vacuumdb", "pg_basebackup")
# libpq client options that take a value (pg_dump --help, pg_restore --help, psql --help).
_VALUED = {"-d", "--dbname", "-h", "--host", "-p", "--port", "-U", "--username", "-f", "--file", "-F", "--format",
           "-n", "--schema", "-N", "--exclude-schema", "-t", "--table", "-T", "--exclude-table", "-j", "--jobs",
           "-c", "--command", "-v", "--set", "-L", "--use-list", "-I", "--index", "-P", "--function", "-S",
           "--superuser", "-Z", "--compress", "--role", "-E", "--encoding", "-O", "--owner", "-l", "--locale",
           "--exclude-table-data", "--section", "--lc-collate", "--lc-ctype", "--template", "--tablespace"}
_FLAG_ONLY = {"pg_restore": {"-c", "-O", "-x", "-a", "-s", "-1", "-e", "-v", "-C", "-l"},
              "pg_dump": {"-c", "-C", "-O", "-x", "-a", "-s", "-v", "-b", "-B"},
              "createdb": {"-e"}, "dropdb": {"-e", "-i"}, "psql": {"-X", "-A", "-t", "-q", "-1", "-e", "-a", "-b"}}
_SQL_ROLE = re.compile(r"\b(?:OWNER\s+TO|GRANT\s+[\w\s,]+?\s+TO|CREATE\s+ROLE|CREATE\s+USER)\s+\"?([A-Za-z_]\w*)",
                       re.I)
_S3_LITERAL = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?=[/\s\"']|$)")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
_HOST_PATH = re.compile(r"/[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)*/?")  # absolute, no variables or globs
# Tools by these absolute paths are the system's own (bash, env, ...): left to the host, not declared.
_SYSTEM_BIN = ("/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/")


@dataclass
class Found:
    """Literal names found in a runbook, each in first-seen order."""

    databases: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    backup_globs: list[str] = field(default_factory=list)  # where pg_dump writes (-f, > file, | tee file)
    folders: list[str] = field(default_factory=list)  # absolute folders the runbook cd's into
    tools: list[str] = field(default_factory=list)  # commands called by absolute path (outside the system bin dirs)

    def add(self, kind: str, value: str) -> None:
        items: list[str] = getattr(self, kind)
        if value and not value.startswith("$") and value not in items and "://" not in value and "=" not in value:
            items.append(value)


def _commands(text: str) -> list[list[str]]:
    """Simple commands of a block as word lists (continuations joined, split on ; && || |)."""
    joined = re.sub(r"\\\n", " ", text)
    out: list[list[str]] = []
    for line in joined.splitlines():
        if line.lstrip().startswith("#"):
            continue
        try:
            lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
            lex.whitespace_split = True
            words = list(lex)
        except ValueError:
            continue
        cmd: list[str] = []
        for w in words:
            if w and set(w) <= set(";&|<>"):
                if cmd:
                    out.append(cmd)
                cmd = []
            else:
                cmd.append(w)
        if cmd:
            out.append(cmd)
    return out


def _unwrap(words: list[str], found: Found) -> list[str]:
    """Strip sudo/docker exec/compose exec/kubectl exec and env assignments, noting roles and containers."""
    while words:
        w = words[0]
        if re.fullmatch(r"[A-Za-z_]\w*=.*", w) or w in ("time", "exec", "nice", "env"):
            words = words[1:]
        elif w == "sudo":
            rest = words[1:]
            while rest and rest[0].startswith("-"):
                if len(rest) > 1 and (rest[0] in ("-u", "--user") or rest[0].endswith("u")):  # -u x, -iu x
                    found.add("roles", rest[1])
                    rest = rest[2:]
                else:
                    rest = rest[1:]
            words = rest
        elif w in ("docker", "podman") and "exec" in words[1:3] or w == "docker-compose" and "exec" in words[1:2]:
            rest = words[words.index("exec") + 1:]
            while rest and rest[0].startswith("-"):
                rest = rest[2:] if rest[0] in ("-u", "--user", "-e", "--env", "-w", "--workdir") else rest[1:]
            if rest:
                found.add("containers", rest[0])
            words = rest[1:]
        elif w == "kubectl" and "exec" in words:
            if "--" in words:
                head = words[words.index("exec") + 1:words.index("--")]
                pods = [h for i, h in enumerate(head) if not h.startswith("-")
                        and not (i and head[i - 1] in ("-n", "--namespace", "-c", "--container"))]
                if pods:
                    found.add("containers", pods[0].split("/", 1)[-1])
                words = words[words.index("--") + 1:]
            else:
                words = []
        else:
            return words
    return words


def _pg_args(tool: str, args: list[str], found: Found) -> None:
    positional: list[str] = []
    i = 0
    flags = _FLAG_ONLY.get(tool, set())
    while i < len(args):
        a = args[i]
        key, eq, val = a.partition("=")
        if a.startswith("--") and eq:
            opt, value = key, val
        elif a in _VALUED and a not in flags and i + 1 < len(args):
            opt, value = a, args[i + 1]
            i += 1
        elif a.startswith("-") and len(a) > 2 and not a.startswith("--") and a[:2] in _VALUED and a[:2] not in flags:
            opt, value = a[:2], a[2:]
        elif a.startswith("-"):
            i += 1
            continue
        else:
            positional.append(a)
            i += 1
            continue
        i += 1
        if opt in ("-d", "--dbname"):
            found.add("databases", value)
        elif opt in ("-U", "--username"):
            found.add("users", value)
        elif opt in ("-h", "--host"):
            found.add("hosts", value)
        elif opt in ("--role", "--owner") or (opt == "-O" and tool == "createdb"):
            found.add("roles", value)
        elif opt in ("-c", "--command"):
            for r in _SQL_ROLE.findall(value):
                found.add("roles", r)
    if tool in ("createdb", "dropdb", "pg_dump", "psql", "vacuumdb") and positional:
        found.add("databases", positional[0])


_DUMP_TARGET = re.compile(r"(?:\s-f\s*|\s--file[= ])(\"?)([^\s\"]+)\1|>\s*(\"?)([^\s\"|;&]+)\3|"
                          r"\btee\s+(?:-a\s+)?(\"?)([^\s\"|;&>]+)\5")
_SHELL_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_]\w*)=(\"?)(.*?)\2\s*(?:&&|;|$)", re.M)
_COMMAND_SUBST = re.compile(r"\$\([^)]*\)|`[^`]*`")
_EXPANSION = re.compile(r"\$\([^)]*\)|`[^`]*`|\$\{[^}]*\}|\$[A-Za-z_]\w*")


def _dump_globs(text: str) -> list[str]:
    """Glob patterns for the files a block's pg_dump writes (date and variable parts become ``*``)."""
    assigned = {m[1]: m[3] for m in _SHELL_ASSIGN.finditer(text)}
    out: list[str] = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if not re.search(r"\bpg_dump(?:all)?\b", line):
            continue
        line = _COMMAND_SUBST.sub("*", line)  # `date +"%Y%m%d"` and $(date -u +%F) hold spaces and quotes
        for m in _DUMP_TARGET.finditer(line):
            target = m[2] or m[4] or m[6]
            bare = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?", target)
            if bare and bare[1] in assigned:
                target = assigned[bare[1]]
            glob = re.sub(r"\*+", "*", _EXPANSION.sub("*", target))
            if glob.strip("*/") and not glob.startswith("/dev/") and glob not in out:
                out.append(glob)
    return out


def discover(book: Runbook) -> Found:
    """Literal names the runbook's shell steps use (variables like ``$DB`` are not names)."""
    found = Found()
    for _, st in book.steps():
        if st.kind != "shell":
            continue
        for b in _S3_LITERAL.findall(st.text):
            found.add("buckets", b)
        for g in _dump_globs(st.text):
            if g not in found.backup_globs:
                found.backup_globs.append(g)
        for words in _commands(st.text):
            if (len(words) > 1 and words[0] in ("cd", "pushd") and _HOST_PATH.fullmatch(words[1])
                    and words[1].rstrip("/") not in RESERVED_HOST_FOLDERS):
                found.add("folders", words[1].rstrip("/"))
            words = _unwrap(words, found)
            if words and _HOST_PATH.fullmatch(words[0]) and not words[0].startswith(_SYSTEM_BIN):
                found.add("tools", words[0])
            if words and words[0].rsplit("/", 1)[-1] in PG_TOOLS:
                _pg_args(words[0].rsplit("/", 1)[-1], words[1:], found)
    for u in found.users:  # a user is a role too; listed once, as the user
        if u in found.roles:
            found.roles.remove(u)
    return found


def names_table(found: Found) -> str:
    """The ``[names]`` TOML for a binding, with a comment per key; empty keys are left commented."""
    def lit(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[names]                     # literal names the runbook uses; the drill creates them (never rewrites)"]
    db = found.databases[0] if found.databases else ""
    lines.append(f"database = {lit(db)}" if db else '# database = "app"      # the drill\'s database carries this name')
    if found.databases[1:]:
        lines.append(f"# also named: {', '.join(found.databases[1:])} (one database per drill: check which is the app's)")
    user = found.users[0] if found.users else ""
    lines.append(f"user = {lit(user)}" if user else '# user = "app"          # the role the runbook connects as (PGUSER)')
    roles = [r for r in found.roles + found.users[1:] if r != user]
    lines.append(f"roles = [{', '.join(lit(r) for r in roles)}]" if roles else '# roles = ["app_reader"]')
    if found.containers:
        lines.append(f"containers = [{', '.join(lit(c) for c in found.containers)}]   # docker/kubectl exec targets "
                     "= the drill's database")
    if found.buckets:
        backup = next((b for b in found.buckets if re.search(r"backup|bak|archive|snapshot", b)), "")
        live = next((b for b in found.buckets if b != backup), "")
        pairs = [f"live = {lit(live)}"] if live else []
        pairs += [f"backup = {lit(backup)}"] if backup else []
        lines.append("buckets = { " + ", ".join(pairs) + " }   # check which is live and which is the backup")
    odd = [h for h in found.hosts if h not in _LOCAL_HOSTS and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", h)]
    if odd:
        lines.append(f"hosts = [{', '.join(lit(h) for h in odd)}]   # -h names that mean the drill's server")
    if found.folders:
        lines.append("folders = { " + ", ".join(f'{lit(f)} = "."' for f in found.folders)
                     + " }   # host folders -> inside the drill's working folder (never the host's)")
    if found.tools:
        lines.append("tools = { " + ", ".join(f"{lit(t)} = {lit(t.rsplit('/', 1)[-1])}" for t in found.tools)
                     + " }   # absolute tool paths -> the drill's tool of that name (check the names)")
    return "\n".join(lines) + "\n"
