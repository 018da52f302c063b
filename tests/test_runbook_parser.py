"""The runbook parser on tricky Markdown and on the two operators' real runbooks."""

from __future__ import annotations

import pytest

from restore_drill.errors import BadInput
from restore_drill.runbook import parse_runbook
from tests.helpers import operator_runbook

TRICKY = """\
Intro text before any heading.

```bash
echo preamble
```

# Title

## Setup

1. Check the maintenance window.
   It spans two lines.
2. Run the setup:

   ```bash
   export A=1 \\
     B=2
   echo "$A $B"
   ```

   - nested bullet, not a step
     1. nested numbered item
3. Done.

- [ ] confirm with the on-call
- plain bullet, not a step

```sql
SELECT 1;
```

```
untagged block
```

````markdown
```bash
echo inside a markdown example: not a step of its own
```
````

Second block in the same section:

~~~sh
# not a heading: a comment inside a shell block
pg_dump "$URL" \\
  --format=custom \\
  --file=x.dump
~~~

Setext heading
--------------

```shell title="with attributes"
echo setext
```

### Deep ###
```bash
echo deep
```
"""


def test_sections_steps_and_lines_on_tricky_markdown() -> None:
    book = parse_runbook(TRICKY, "tricky.md")
    by_heading = {s.heading: s for s in book.sections}
    assert [s.heading for s in book.sections] == ["", "Title", "Setup", "Setext heading", "Deep"]
    assert book.title == "Title"

    pre = by_heading[""]
    assert [(s.kind, s.text, s.line) for s in pre.steps] == [("shell", "echo preamble", 3)]

    setup = by_heading["Setup"]
    kinds = [(s.kind, s.language) for s in setup.steps]
    assert kinds == [
        ("manual", ""),  # 1. (two lines joined)
        ("shell", "bash"),  # the block nested under item 2 (item 2 itself is that block's step)
        ("manual", ""),  # nested numbered item inside a bullet
        ("manual", ""),  # 3.
        ("manual", ""),  # - [ ] task item
        ("other", "sql"),
        ("other", ""),  # untagged
        ("other", "markdown"),  # a longer fence swallows the ``` inside it
        ("shell", "sh"),  # ~~~ fence, comment line is not a heading
    ]
    assert [s.index for s in setup.steps] == list(range(1, 10))
    assert setup.steps[0].text == "Check the maintenance window. It spans two lines."
    assert setup.steps[0].line == 11
    # the nested block is dedented by its fence's indentation, line continuations kept verbatim
    assert setup.steps[1].text == 'export A=1 \\\n  B=2\necho "$A $B"'
    assert setup.steps[2].text == "nested numbered item"
    assert setup.steps[4].text == "confirm with the on-call"
    assert "echo inside a markdown example" in setup.steps[7].text
    assert setup.steps[8].text.startswith("# not a heading")
    assert setup.steps[8].text.endswith("--file=x.dump")

    assert [(s.kind, s.language) for s in by_heading["Setext heading"].steps] == [("shell", "shell")]
    deep = by_heading["Deep"]
    assert deep.level == 3 and deep.path == ("Title", "Setext heading", "Deep")
    assert deep.steps[0].text == "echo deep"


def test_find_by_heading_and_by_path() -> None:
    book = parse_runbook("# A\n## Run\n```bash\ntrue\n```\n# B\n## Run\n```bash\nfalse\n```\n", "two.md")
    assert len(book.find("run")) == 2  # case-insensitive
    assert [s.line for s in book.find("B > Run")] == [7]
    assert book.find("`Run`")[0].heading == "Run"  # backticks ignored when matching


def test_unclosed_fence_names_the_line() -> None:
    with pytest.raises(BadInput, match=r"bad\.md:4: code block opened with ``` is never closed"):
        parse_runbook("# T\n\ntext\n```bash\necho never closed\n", "bad.md")


def test_shorter_fence_does_not_close_a_longer_one() -> None:
    with pytest.raises(BadInput, match=":1: code block opened with ````"):
        parse_runbook("````bash\necho x\n```\n", "short.md")


def test_runbook_without_a_shell_block_is_bad_input() -> None:
    with pytest.raises(BadInput, match="has no ```bash block"):
        parse_runbook("# T\n\n1. do things by hand\n\n```python\nprint(1)\n```\n", "none.md")


def test_arqonbus_runbook_steps() -> None:
    book = parse_runbook(operator_runbook("000_bfde4953689c82a4.txt").read_text(), "000")
    shell = [(sec.heading, st.line) for sec, st in book.steps() if st.kind == "shell"]
    assert shell == [("Migration Apply", 21), ("Migration Apply", 28), ("Logical Backup", 37),
                     ("Restore (Table-Scoped)", 52), ("Integrity Verification", 65), ("Integrity Verification", 75)]
    restore = book.find("Restore (Table-Scoped)")[0].steps[0].text
    assert restore.splitlines()[0] == 'pg_restore "$ARQONBUS_POSTGRES_URL" \\'
    assert restore.splitlines()[-1].strip() == "backups/<backup-file>.dump"


def test_pegasus_runbook_steps() -> None:
    book = parse_runbook(operator_runbook("003_c2eaccfac875b702.txt").read_text(), "003")
    workflow = book.find("Restore workflow")[0]
    # items 1-3, the probe block (item 4 is its block), then items 5 and 6
    assert [s.kind for s in workflow.steps] == ["manual", "manual", "manual", "shell", "manual", "manual"]
    assert workflow.steps[3].text.splitlines() == ['curl -sS "$API_BASE_URL/health/ready"',
                                                   'curl -sS "$API_BASE_URL/lectures/<lecture-id>/integrity"']
    assert "smoke job" in workflow.steps[4].text
    assert [s.kind for s in book.find("Pre-restore checklist")[0].steps] == ["manual"] * 4
    assert book.find("Postgres backup examples > Restore logical backup")[0].line == 36
    assert book.find("Verification checklist")[0].steps == []  # bullets are not steps
