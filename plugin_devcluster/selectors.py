"""Label and field selectors of list/watch requests (`?labelSelector=...&fieldSelector=...`).

kmock filters nothing, but `kubectl describe` finds an object's Events with a field selector,
`kubectl delete` waits on `metadata.name=...`, and kopf/kubectl users filter by labels.

Label selectors follow the Kubernetes grammar: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
`a` (exists) and `!a` (does not exist), comma-joined (all must hold). Field selectors allow `=`, `==`
and `!=` on dotted paths of the object (`involvedObject.uid`, `metadata.name`, `type`...).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any


class SelectorError(ValueError):
    """A selector that does not parse; the server answers 400 BadRequest with this message."""


_SET_REQUIREMENT = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s+(?P<op>in|notin)\s+\((?P<values>[^()]*)\)\s*$")
_EQUALITY = re.compile(r"^\s*(?P<key>[^\s!=(),]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)\s*$")
_EXISTS = re.compile(r"^\s*(?P<negated>!?)\s*(?P<key>[^\s!=(),]+)\s*$")


@dataclasses.dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.op == "exists":
            return self.key in labels
        if self.op == "!exists":
            return self.key not in labels
        if self.op == "in":
            return labels.get(self.key) in self.values
        return labels.get(self.key) not in self.values  # notin: an absent key matches too


def _split(text: str) -> list[str]:
    """Split on the commas that are not inside `in (...)` value lists."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise SelectorError(f"unbalanced parentheses in selector {text!r}")
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth:
        raise SelectorError(f"unbalanced parentheses in selector {text!r}")
    parts.append(text[start:])
    return [part for part in parts if part.strip()]


def parse_labels(text: str) -> list[Requirement]:
    requirements = []
    for part in _split(text):
        if match := _SET_REQUIREMENT.match(part):
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append(Requirement(match["key"], match["op"], values))
        elif match := _EQUALITY.match(part):
            op = "notin" if match["op"] == "!=" else "in"
            requirements.append(Requirement(match["key"], op, frozenset({match["value"]})))
        elif match := _EXISTS.match(part):
            requirements.append(Requirement(match["key"], "!exists" if match["negated"] else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement {part.strip()!r} of label selector {text!r}")
    return requirements


@dataclasses.dataclass(frozen=True)
class FieldRequirement:
    path: tuple[str, ...]
    value: str
    negated: bool

    def matches(self, obj: Mapping[str, Any]) -> bool:
        node: Any = obj
        for part in self.path:
            node = node.get(part) if isinstance(node, Mapping) else None
        actual = "" if node is None else str(node).lower() if isinstance(node, bool) else str(node)
        return (actual == self.value) != self.negated


def parse_fields(text: str) -> list[FieldRequirement]:
    requirements = []
    for part in _split(text):
        match = _EQUALITY.match(part)
        if match is None:
            raise SelectorError(f"invalid field selector requirement {part.strip()!r}: only =, == and != are supported")
        requirements.append(FieldRequirement(tuple(match["key"].split(".")), match["value"], match["op"] == "!="))
    return requirements


@dataclasses.dataclass(frozen=True)
class Selector:
    """The label and field requirements of one request; an empty selector matches everything."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Selector:
        return cls(
            labels=tuple(parse_labels(params.get("labelSelector", ""))),
            fields=tuple(parse_fields(params.get("fieldSelector", ""))),
        )

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r.matches(labels) for r in self.labels) and all(r.matches(obj) for r in self.fields)


def label_selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a LabelSelector object (`matchLabels`, `matchExpressions`), as the
    controllers, NetworkPolicies and Services of the dev cluster select pods. An empty selector
    selects everything."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
