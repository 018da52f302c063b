"""``--dry-run``: every command a drill would run, with its bindings and what it may reach; runs nothing.

Reads only the runbook and the binding (``runbook.plan`` fits them, as a real run does first), so it
starts no server and needs no confinement. Ports are chosen when a drill starts (port 0), so the plan
names the endpoints by what they are, not by number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .shims import HOST_TOOLS

_VAR = re.compile(r"(?<![\\$])\$(?:\{([A-Za-z_]\w*)|([A-Za-z_]\w*))")
_TOOL = re.compile(r"(?:^|[\s;&|(`]|\$\()(?:/\S*/)?(" + "|".join(re.escape(t) for t in HOST_TOOLS) + r")(?=\s|$|;)", re.M)

REACH = (
    "the drill's PostgreSQL (unix socket folder and TCP 127.0.0.1:<port chosen at start>)",
    "the drill's S3 endpoint (127.0.0.1:<port chosen at start>)",
    "the drill's API (the stand-in, when the binding starts it; or the API_BASE_URL you give)",
    "the working folder (read-write), system folders and the tools' installs (read-only)",
)


def _wrapper_map(binding: Any) -> dict[str, str]:
    try:
        from restore_drill.runbook import runner

        fn = getattr(runner, "wrapper_map", None)
        return dict(fn(binding)) if fn is not None else {}
    except Exception:  # noqa: BLE001 - a plan must print even if the mapping cannot be computed
        return {}


def _operator_input(name: str, binding: Any) -> str:
    """How the real run binds an operator input the runbook never defines (runbook.values.operator_choices)."""
    said = "left to the operator; "
    if name == "RESTORE_PREFIX" and binding.snapshot is not None:
        return said + f"bound to the drill's backup (the snapshot prefix {binding.snapshot.prefix})"
    if name == "BACKUP_FILE":
        return said + "bound to the drill's backup (the newest dump the backup phase wrote)"
    if name == "BACKUP_DATE":
        return said + "bound to the drill's backup (its date)"
    return said + "nothing binds it, so it is empty"


def _mounts(binding: Any, confined: bool) -> list[str]:
    """The binding's ``[names] folders``/``tools`` as a real run shows them to each step (sandbox.path_mounts):
    the runbook's host path -> what the step sees there. Only named here: the tools are looked up when the
    drill starts, on the step's PATH."""
    names = getattr(binding, "names", None)
    folders = dict(getattr(names, "folders", {}) or {})
    tools = dict(getattr(names, "tools", {}) or {})
    if not folders and not tools:
        return []
    how = ("a bind mount in each step's own mount namespace; the host path itself is never created or changed"
           if confined else "impossible unconfined: a step has no mount namespace then, so every step is not run")
    out = [f"  - paths the runbook names, shown to each step at that path ({how}):"]
    out += [f"      {host} -> the working folder's {rel if rel != '.' else 'own root'} (read-write)"
            for host, rel in sorted(folders.items())]
    out += [f"      {host} -> the drill's {name} (read-only)" for host, name in sorted(tools.items())]
    return out


def dry_run(book: Any, binding: Any, *, title: str = "", confined: bool = True,
            system_variables: Sequence[str] = ()) -> list[str]:
    """The plan as printable lines: one block per step/hook in execution order.

    ``book``: runbook.Runbook; ``binding``: runbook.Binding; ``system_variables``: the system's own
    names for the database URL (SystemDef.database_url_variables). Raises BadInput (from runbook.plan) when
    the binding does not fit the runbook, like a real run would before starting anything.
    """
    from restore_drill.fixtures.environment import RUNBOOK_VARIABLES
    from restore_drill.runbook import plan
    from restore_drill.runbook.binding import HookPoint
    from restore_drill.runbook.values import _ASSIGNED, OPERATOR_VARIABLES

    steps = plan(binding, book)
    mapped = _wrapper_map(binding)
    # Variables the runbook sets itself; an operator input it reads but never sets is the runner's to bind.
    assigned = {a or b for _, st in book.steps() if st.kind == "shell" for a, b in _ASSIGNED.findall(st.text)}
    out = [f"dry run: {title or book.source} with binding {binding.label}; nothing is started or run", ""]
    out.append("every runbook step " + ("runs confined and may reach only:" if confined
                                          else "runs UNCONFINED (--unconfined): it may reach anything the host can, e.g.:"))
    out += [f"  - {r}" for r in REACH]
    out += _mounts(binding, confined)
    out.append("")
    for n, item in enumerate(steps.items, 1):
        if isinstance(item, HookPoint):
            out.append(f"{n:3}. [restore-drill] {item.hook} hook ({item})")
            continue
        st, rule = item.step, item.rule
        action = rule.action if rule is not None else "run"
        head = f"{n:3}. {item.phase:8} {item.section.heading or '(preamble)'} #{st.index} (line {st.line})"
        if action != "run":  # before the manual test, as the runner decides: a binding's rule wins over the kind
            what = (f"replaced by `{rule.run}`" if rule is not None and rule.run else
                    f"replaced by restore-drill {rule.hook}" if rule is not None and rule.hook else action)
            out.append(f"{head}: {what}" + (f" ({rule.reason})" if rule is not None and rule.reason else ""))
            continue
        if not st.runnable:
            out.append(f"{head}: not run ({st.kind}{', ' + st.language if st.language else ''} block)")
            continue
        out.append(f"{head}:")
        out += [f"       $ {ln}" for ln in st.text.rstrip().splitlines()]
        variables = sorted({a or b for a, b in _VAR.findall(st.text)})
        bound = [v for v in variables if v in RUNBOOK_VARIABLES or v in system_variables or v in binding.variables
                 or v in OPERATOR_VARIABLES]
        if bound:
            out.append("       bindings: " + ", ".join(
                f"${v} <- binding ({binding.variables[v]})" if v in binding.variables else
                f"${v} <- {_operator_input(v, binding)}" if v in OPERATOR_VARIABLES and v not in assigned else
                f"${v} <- the drill's" for v in bound))
        tokens = [t for t in binding.placeholders if t in st.text]
        if tokens:
            out.append("       placeholders: " + ", ".join(
                f"{t} <- {binding.placeholders[t].source}"
                + (f" ({binding.placeholders[t].value})" if binding.placeholders[t].value else "") for t in tokens))
        for tool in sorted(set(_TOOL.findall(st.text))):
            if tool in mapped:
                out.append(f"       {tool}: mapped by the binding onto the drill's infrastructure")
            else:
                out.append(f"       {tool}: refused (it would act on {HOST_TOOLS[tool]}); the step records the block")
    return out


def drills_plan(specs: Any, *, system: Any = None, runbook_path: Any = None, binding_path: Any = None,
                config: Any = None) -> list[str]:
    """``dry_run`` for each drill spec (catalog.DrillSpec) as ``restore-drill run/runbook`` would run it:
    the procedure the engine executes (``engine.procedure_files``: a physical drill's point-in-time recovery
    procedure and binding), its disaster and, for a physical drill, the PostgreSQL major. ``config``
    (config.DrillConfig; None: the defaults) is the run's settings. Raises BadInput as the real run would
    (missing runbook, binding that does not fit, a physical drill's requirements: ``pitr.requirements.check``)
    before printing anything."""
    from restore_drill.config import DrillConfig
    from restore_drill.engine import load_procedure, procedure_files
    from restore_drill.pitr import requirements
    from restore_drill.systems import resolve_system

    from . import unavailable_reason, unconfined

    config = config or DrillConfig()
    majors = [requirements.check(spec, config) for spec in specs]  # every refusal before any output
    confined = not unconfined()
    out: list[str] = []
    for spec, major in zip(specs, majors, strict=True):
        sysdef = system or resolve_system(spec.system)
        rb, bd = procedure_files(spec, sysdef, runbook_path, binding_path)
        book, binding = load_procedure(rb, bd)
        on = f"; PostgreSQL {major}" if major is not None else ""
        out += dry_run(book, binding, title=f"drill {spec.name} ({spec.procedure}: {rb}; disaster "
                       f"{spec.disaster}{on})", confined=confined, system_variables=sysdef.database_url_variables)
        out.append("")
    if confined and (why := unavailable_reason()):
        out.append(f"note: {why}")
    return out
