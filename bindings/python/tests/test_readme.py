"""The README's quickstart and asyncio snippets run against the test node."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets() -> list[str]:
    text = README.read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"```python\n(.*?)```", quickstart, flags=re.S)
    assert len(found) == 2, "the quickstart has a blocking and an asyncio snippet"
    return found


def test_quickstart_runs(port: int, capsys) -> None:
    for code in snippets():
        assert "55555" in code
        exec(compile(code.replace("55555", str(port)), str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "no member of 'nobody' answered" in out
    assert "b'hi'" in out
