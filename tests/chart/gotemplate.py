"""A test-only renderer for the small subset of Helm's Go templates that this chart uses.

There is no `helm` binary on these machines (nor a maintained Python implementation of Go
templates), so the chart is kept simple and rendered here to validate its output. What it supports,
with Go/Helm semantics:

- text with `{{ ... }}` actions, whitespace trimming by `{{- ` and ` -}}`, comments `{{/* ... */}}`;
- values: `.Values.a.b`, `.Release.Name`, `.Chart.AppVersion`, `$.Values...`, `$name`, `.` inside
  `range`, string literals "..." and integers;
- `{{ if PIPELINE }}` / `{{ else }}` / `{{ end }}`, truthiness as in Go (false, 0, "", empty list/map);
- `{{ range $name := PIPELINE }}` over a list (the item is also `.`);
- pipelines `a | f x` (the piped value is the last argument) and calls `f x y`, with the functions
  quote, toYaml, indent, nindent, join and `include "name" DOT`;
- named templates: `{{ define "name" }}...{{ end }}` at the top level of any file (Helm's
  `_helpers.tpl`), shared by every template of the chart, called with `include` (a string, which can
  be piped, e.g. to nindent) or the `{{ template "name" DOT }}` action.

Limits, on purpose: no `with`, `else if`, `block`, variable assignment outside `range`, maps in
`range`, or any other function; a missing field is an error (Helm would print nothing). Anything
unsupported raises `TemplateError`, so a chart that outgrows this renderer fails its tests instead
of being checked against the wrong output.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(- )?(.*?)( -)?\}\}", re.DOTALL)
_WORD = re.compile(r'"(?:\\.|[^"\\])*"|\||[^\s|"]+')
_RANGE = re.compile(r"range\s+\$(\w+)\s*:=\s*(.+)", re.DOTALL)
_NAMED = re.compile(r'(define|template)\s+("(?:\\.|[^"\\])*")\s*(.*)', re.DOTALL)
_MAX_DEPTH = 64  # nested includes; Helm stops runaway recursion too


class TemplateError(Exception):
    """The template uses syntax or a function this renderer does not implement, or a missing value."""


@dataclasses.dataclass(frozen=True)
class _Text:
    text: str


@dataclasses.dataclass(frozen=True)
class _Output:
    pipeline: str


@dataclasses.dataclass(frozen=True)
class _If:
    pipeline: str
    then: list[Any]
    otherwise: list[Any]


@dataclasses.dataclass(frozen=True)
class _Range:
    variable: str
    pipeline: str
    body: list[Any]


@dataclasses.dataclass(frozen=True)
class _Define:
    name: str
    body: list[Any]


@dataclasses.dataclass(frozen=True)
class _Template:
    name: str
    pipeline: str


@dataclasses.dataclass
class _Env:
    """What every action of one chart rendering sees: the named templates of all its files."""

    defines: dict[str, list[Any]]
    depth: int = 0


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render one template with `context` as `.` and `$` (keys Values, Release, Chart)."""
    return render_chart({"template.yaml": source}, context)["template.yaml"]


def render_chart(sources: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    """Render a chart's template files together, as Helm does: named templates defined in any file
    are visible to all, and files whose name starts with `_` (helpers) produce no output."""
    parsed: dict[str, list[Any]] = {}
    env = _Env(defines={})
    for name, source in sources.items():
        nodes, rest = _parse(_tokens(source), 0, terminators=())
        if rest is not None:
            raise TemplateError(f"{name}: unexpected {{{{ {rest[0]} }}}}")
        for node in nodes:
            if isinstance(node, _Define):
                if node.name in env.defines:
                    raise TemplateError(f"{name}: template {node.name!r} is defined twice")
                env.defines[node.name] = node.body
        parsed[name] = [node for node in nodes if not isinstance(node, _Define)]
    rendered: dict[str, str] = {}
    for name, nodes in parsed.items():
        if name.rsplit("/", 1)[-1].startswith("_"):
            continue
        out: list[str] = []
        _execute(nodes, dot=context, variables={"": context}, out=out, env=env)
        rendered[name] = "".join(out)
    return rendered


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position, trim_next = 0, False
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        tokens.append(("text", text))
        action = match.group(2).strip()
        if not (action.startswith("/*") and action.endswith("*/")):
            tokens.append(("action", action))
        position, trim_next = match.end(), bool(match.group(3))
    tail = source[position:]
    tokens.append(("text", tail.lstrip() if trim_next else tail))
    return tokens


def _parse(tokens: list[tuple[str, str]], index: int, terminators: tuple[str, ...]) -> tuple[list[Any], Any]:
    """Nodes up to one of `terminators`; returns (nodes, (terminator, next index)) or (nodes, None) at EOF."""
    nodes: list[Any] = []
    while index < len(tokens):
        kind, value = tokens[index]
        index += 1
        if kind == "text":
            nodes.append(_Text(value))
        elif value in terminators:
            return nodes, (value, index)
        elif value.startswith("if "):
            then, stop = _parse(tokens, index, ("else", "end"))
            otherwise: list[Any] = []
            if stop is not None and stop[0] == "else":
                otherwise, stop = _parse(tokens, stop[1], ("end",))
            if stop is None:
                raise TemplateError(f"{{{{ {value} }}}} is never closed")
            nodes.append(_If(value[3:], then, otherwise))
            index = stop[1]
        elif value.startswith("range "):
            match = _RANGE.fullmatch(value)
            if match is None:
                raise TemplateError(f"only `range $name := pipeline` is supported, not {value!r}")
            body, stop = _parse(tokens, index, ("end",))
            if stop is None:
                raise TemplateError(f"{{{{ {value} }}}} is never closed")
            nodes.append(_Range(match.group(1), match.group(2), body))
            index = stop[1]
        elif value.startswith(("define ", "template ")):
            match = _NAMED.fullmatch(value)
            if match is None:
                raise TemplateError(f"malformed {{{{ {value} }}}}")
            kind, name, rest = match.group(1), json.loads(match.group(2)), match.group(3).strip()
            if kind == "template":
                nodes.append(_Template(name, rest))
                continue
            if rest or terminators:
                raise TemplateError(f"{{{{ {value} }}}} must stand alone at the top level of a file")
            body, stop = _parse(tokens, index, ("end",))
            if stop is None:
                raise TemplateError(f"{{{{ {value} }}}} is never closed")
            nodes.append(_Define(name, body))
            index = stop[1]
        elif value.split(" ")[0] in ("else", "end", "with", "block"):
            raise TemplateError(f"unsupported or misplaced {{{{ {value} }}}}")
        else:
            nodes.append(_Output(value))
    return nodes, None


def _execute(nodes: list[Any], *, dot: Any, variables: dict[str, Any], out: list[str], env: _Env) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Output):
            out.append(_print(_pipeline(node.pipeline, dot, variables, env)))
        elif isinstance(node, _If):
            branch = node.then if _truthy(_pipeline(node.pipeline, dot, variables, env)) else node.otherwise
            _execute(branch, dot=dot, variables=variables, out=out, env=env)
        elif isinstance(node, _Template):
            argument = _pipeline(node.pipeline, dot, variables, env) if node.pipeline else None
            out.append(_include(env, node.name, argument))
        else:
            items = _pipeline(node.pipeline, dot, variables, env)
            if not isinstance(items, list):
                raise TemplateError(f"range over {type(items).__name__} is not supported")
            for item in items:
                _execute(node.body, dot=item, variables={**variables, node.variable: item}, out=out, env=env)


def _include(env: _Env, name: str, dot: Any) -> str:
    """A named template rendered with `dot` as both `.` and `$`, as Go does for a template call."""
    if name not in env.defines:
        raise TemplateError(f"no template named {name!r}")
    if env.depth >= _MAX_DEPTH:
        raise TemplateError(f"template {name!r}: includes nested deeper than {_MAX_DEPTH}")
    out: list[str] = []
    env.depth += 1
    try:
        _execute(env.defines[name], dot=dot, variables={"": dot}, out=out, env=env)
    finally:
        env.depth -= 1
    return "".join(out)


def _pipeline(text: str, dot: Any, variables: Mapping[str, Any], env: _Env) -> Any:
    words = _WORD.findall(text)
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "|":
            commands.append([])
        else:
            commands[-1].append(word)
    value: Any = _NOTHING
    for command in commands:
        if not command:
            raise TemplateError(f"empty command in {text!r}")
        name, *arguments = command
        if name == "include":
            args = [_operand(argument, dot, variables) for argument in arguments]
            args += [] if value is _NOTHING else [value]
            if len(args) != 2 or not isinstance(args[0], str):
                raise TemplateError(f"include takes a template name and one argument: {text!r}")
            value = _include(env, args[0], args[1])
        elif name in _FUNCTIONS:
            args = [_operand(argument, dot, variables) for argument in arguments]
            value = _FUNCTIONS[name](*args, *([] if value is _NOTHING else [value]))
        elif value is _NOTHING and not arguments:
            value = _operand(name, dot, variables)
        else:
            raise TemplateError(f"unknown function {name!r} in {text!r}")
    return value


_NOTHING = object()


def _operand(word: str, dot: Any, variables: Mapping[str, Any]) -> Any:
    if word.startswith('"'):
        return json.loads(word)
    if re.fullmatch(r"-?[0-9]+", word):
        return int(word)
    if word == ".":
        return dot
    if word.startswith("."):
        return _fields(dot, word[1:].split("."), word)
    if word.startswith("$"):
        name, _, path = word[1:].partition(".")
        if name not in variables:
            raise TemplateError(f"undefined variable ${name}")
        return _fields(variables[name], path.split(".") if path else [], word)
    raise TemplateError(f"unsupported operand {word!r}")


def _fields(value: Any, path: list[str], word: str) -> Any:
    for field in path:
        if not isinstance(value, Mapping) or field not in value:
            raise TemplateError(f"{word}: no field {field!r}")
        value = value[field]
    return value


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and value != [] and value != {}


def _print(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TemplateError(f"printing a {type(value).__name__} needs toYaml")


def _quote(*values: Any) -> str:
    return " ".join(json.dumps(_print(value), ensure_ascii=False) for value in values)


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).removesuffix("\n")


def _indent(spaces: int, text: str) -> str:
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _join(separator: str, values: list[Any]) -> str:
    return separator.join(_print(value) for value in values)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quote": _quote,
    "toYaml": _to_yaml,
    "indent": _indent,
    "nindent": lambda spaces, text: "\n" + _indent(spaces, text),
    "join": _join,
}
