"""Write one bench's results into docs/benchmarks.md, between markers named after the bench."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nEach section is written by the bench script it names, from one run: "
          "the machine, the date, the figures and the baseline measured in the same run.\n")


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = match.group(1).strip() if match else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(re.search(r"MemTotal:\s*(\d+)", meminfo.read_text()).group(1))  # type: ignore[union-attr]
        memory = f", {kb / 1024 / 1024:.0f} GiB"
    return (f"{os.cpu_count()} cores ({cpu}){memory}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def write_section(name: str, body: str, *, started: dt.datetime | None = None) -> None:
    """Replace (or add) the section of bench `name` in docs/benchmarks.md; `started` is when
    the run began (else now)."""
    text = DOC.read_text() if DOC.exists() else HEADER
    stamp = (started or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    section = (f"<!-- {name}:start -->\n## `bench/{name}.py`\n\nRun {stamp} on {machine()}.\n\n"
               f"{body.strip()}\n<!-- {name}:end -->")
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    text = pattern.sub(section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
