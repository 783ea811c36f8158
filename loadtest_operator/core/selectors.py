"""A metav1.LabelSelector against a label set, as the API server matches it, and kubectl's selector syntax
parsed into one (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """An empty or absent selector matches everything; an unknown operator matches nothing (the API
    server would not have matched it either)."""
    if not selector:
        return True
    if any(labels.get(str(k)) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op = str(expr.get("key")), expr.get("operator")
        values = [str(v) for v in expr.get("values") or []]
        present = key in labels
        if op not in _OPERATORS:
            return False
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


# -- kubectl's selector syntax (`-l`, `?labelSelector=`) -------------------------------------------------

MAX_REQUIREMENTS = 20
MAX_SELECTOR_LENGTH = 2048
_KEY = r"[^\s=!(),<>]+"
_SET = re.compile(rf"^({_KEY})\s+(in|notin)\s*\((.*)\)$")
_EQUALITY = re.compile(rf"^({_KEY})\s*(==|=|!=)\s*(.*)$")
_NOT = re.compile(rf"^!\s*({_KEY})$")
_NAME_PART = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SELECTOR_EXAMPLE = "app=vllm,tier!=test,env in (prod,staging),canary,!legacy"


class SelectorError(ValueError):
    """A label selector that does not parse; the message names the part and what is wrong with it."""


def parse_selector(text: str) -> dict[str, Any]:
    """A kubectl label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) as a metav1.LabelSelector
    (matchExpressions only): what selector_matches() matches, and what the store turns into SQL. `=` and
    `==` are In, `!=` is NotIn (it matches a missing label, as in Kubernetes)."""
    if len(text) > MAX_SELECTOR_LENGTH:
        raise SelectorError(f"longer than {MAX_SELECTOR_LENGTH} characters")
    parts = _split(text)
    if len(parts) > MAX_REQUIREMENTS:
        raise SelectorError(f"{len(parts)} requirements: at most {MAX_REQUIREMENTS}")
    return {"matchExpressions": [_requirement(part) for part in parts]}


def _split(text: str) -> list[str]:
    """Requirements separated by commas outside parentheses; empty text selects everything."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth not in (0, 1):
            raise SelectorError(f"unbalanced parentheses in {text!r}")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        raise SelectorError(f"unbalanced parentheses in {text!r}")
    parts.append(current.strip())
    if parts == [""]:
        return []
    if "" in parts:
        raise SelectorError(f"an empty requirement in {text!r} (two commas, or one at an end)")
    return parts


def _requirement(part: str) -> dict[str, Any]:
    if match := _SET.match(part):
        values = [v.strip() for v in match.group(3).split(",")]
        if values == [""]:
            raise SelectorError(f"{part!r}: {match.group(2)} needs at least one value")
        operator = "In" if match.group(2) == "in" else "NotIn"
        return {"key": _key(match.group(1)), "operator": operator, "values": [_value(v) for v in values]}
    if match := _NOT.match(part):
        return {"key": _key(match.group(1)), "operator": "DoesNotExist"}
    if match := _EQUALITY.match(part):
        operator = "NotIn" if match.group(2) == "!=" else "In"
        return {"key": _key(match.group(1)), "operator": operator, "values": [_value(match.group(3).strip())]}
    if re.fullmatch(_KEY, part):
        return {"key": _key(part), "operator": "Exists"}
    raise SelectorError(
        f"{part!r} is not a requirement: write key, !key, key=value, key!=value, key in (a,b) or "
        "key notin (a,b) (>, < and other operators are not supported)"
    )


def _key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        raise SelectorError(f"label key {key!r}: its prefix must be a DNS subdomain (lower case, dots)")
    if len(name) > 63 or not _NAME_PART.match(name):
        raise SelectorError(
            f"label key {key!r}: its name must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return key


def _value(value: str) -> str:
    if value and (len(value) > 63 or not _NAME_PART.match(value)):
        raise SelectorError(
            f"label value {value!r}: at most 63 letters, digits, '-', '_' or '.', starting and ending with "
            "a letter or digit (or empty)"
        )
    return value
