"""The Dockerfile read as the tests need it: logical instructions, grouped by named stage."""

from __future__ import annotations

import re
from typing import Any

from . import helm

Stage = dict[str, Any]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (helm.REPO / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    pairs = [line.split(None, 1) for line in logical.splitlines() if line.strip()]
    return [(instruction.upper(), arguments.strip()) for instruction, arguments in pairs]


def stages() -> dict[str, Stage]:
    """Each named stage: `from` (its base) and its `instructions`."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction, arguments in instructions():
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)\s+AS\s+(\S+)", arguments, re.IGNORECASE)
            assert match, f"every stage is named: FROM {arguments}"
            current = found[match.group(2)] = {"from": match.group(1), "instructions": []}
        elif current is not None:
            current["instructions"].append((instruction, arguments))
    return found


def copied_sources(stage: Stage) -> list[str]:
    """What a stage copies from the build context (not from other stages)."""
    return [
        source
        for kind, arguments in stage["instructions"]
        if kind == "COPY" and not arguments.startswith("--from=")
        for source in arguments.split()[:-1]
    ]


def installed_extras(stage: Stage) -> list[set[str]]:
    """The extras of each `pip install` of the project's wheel in a stage (an empty set: none)."""
    installs = [
        match.group(1)
        for kind, arguments in stage["instructions"]
        if kind == "RUN"
        for match in re.finditer(r"pip install ([^&;]+)", arguments)
    ]
    extras = []
    for target in installs:
        found = re.search(r"\[([^\]]*)\]", target)
        extras.append({extra.strip() for extra in found.group(1).split(",")} if found else set())
    return extras
