"""Kubernetes label selectors: requirements, matching, the string grammar and the API form.

Follows ``k8s.io/apimachinery/pkg/labels/selector.go`` (``Requirement``, ``internalSelector``,
``Parse``, ``SelectorFromSet``), ``labels.go`` (``ConvertSelectorToLabelsMap``) and
``pkg/apis/meta/v1/helpers.go`` (``LabelSelectorAsSelector``), including their error texts.

Deliberate differences from Go, none visible in matching:

- Requirement values are kept sorted and de-duplicated (they are a set for matching, the parser
  already produces them that way, and ``String()`` sorts them anyway). This makes
  ``parse(str(s)) == s`` hold for every valid selector, including those built from the API form.
- Requirements are sorted by key with a stable sort (Go's ``sort.Sort`` is stable for the short
  lists selectors have in practice).
- :class:`SelectorError` carries ``position``, the offset in the text of the token a parse error
  is about (``None`` for validation errors); the message itself is Kubernetes'.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.model.names import label_key_errors, label_value_errors

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "from_label_selector",
    "from_set",
    "is_equality_only",
    "new_requirement",
    "parse",
    "parse_equality_only",
    "to_label_selector",
    "to_set",
]


class SelectorError(ValueError):
    """An invalid selector; the message is the one Kubernetes would give."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class Operator(enum.StrEnum):
    """``selection.Operator``: the values are Kubernetes' strings."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_SET_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
_EXACT_OPERATORS = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_UNARY_OPERATORS = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})
_NUMERIC_OPERATORS = frozenset({Operator.GREATER_THAN, Operator.LESS_THAN})
# The order of ``binaryOperators`` in selector.go, used in "expected: ..." messages.
_BINARY_OPERATORS = (
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
)

_GO_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``, ``None`` where Go returns an error."""
    if _GO_INT64.fullmatch(text) is None:
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _go_quote(value: str) -> str:
    """Close enough to Go's ``%q`` for label keys and values."""
    return json.dumps(value, ensure_ascii=False)


def _invalid(path: str, bad_value: str | Sequence[str], detail: str) -> str:
    """``field.Invalid(path, value, detail).Error()``."""
    if isinstance(bad_value, str):
        shown = _go_quote(bad_value)
    else:
        # Go hands NewRequirement a nil slice when there are no values; it prints as JSON.
        shown = json.dumps(list(bad_value), separators=(",", ":")) if bad_value else "null"
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message as is, several in brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


@dataclass(frozen=True)
class Requirement:
    """One ``key operator values`` term. Build validated ones with :func:`new_requirement`."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "operator", Operator(self.operator))
        object.__setattr__(self, "values", tuple(sorted(set(self.values))))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """``Requirement.Matches``; an absent key satisfies only ``!=``, ``notin`` and ``!key``."""
        op = self.operator
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        value = labels.get(self.key)
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return value is not None and value in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return value is None or value not in self.values
        # Gt / Lt: both sides must be 64-bit integers, anything else does not match.
        if value is None or len(self.values) != 1:
            return False
        have, bound = _parse_int64(value), _parse_int64(self.values[0])
        if have is None or bound is None:
            return False
        return have > bound if op is Operator.GREATER_THAN else have < bound

    def __str__(self) -> str:
        """``Requirement.String``: ``!k``, ``k``, ``k=v``, ``k in (a,b)``, ``k>1`` ..."""
        op = self.operator
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if op is Operator.EXISTS:
            return self.key
        rendered = ",".join(self.values)
        if op in _SET_OPERATORS:
            return f"{self.key} {op.value} ({rendered})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{rendered}"


def _requirement_errors(
    key: str, operator: Operator, values: Sequence[str], *, key_path: str = "key"
) -> list[str]:
    """The checks of ``NewRequirement``, in its order, as ``field.Error`` strings."""
    errors: list[str] = []
    if key_errors := label_key_errors(key):
        errors.append(_invalid(key_path, key, "; ".join(key_errors)))
    if operator in _SET_OPERATORS and not values:
        detail = "for 'in', 'notin' operators, values set can't be empty"
        errors.append(_invalid("values", values, detail))
    elif operator in _EXACT_OPERATORS and len(values) != 1:
        detail = "exact-match compatibility requires one single value"
        errors.append(_invalid("values", values, detail))
    elif operator in _UNARY_OPERATORS and values:
        detail = "values set must be empty for exists and does not exist"
        errors.append(_invalid("values", values, detail))
    elif operator in _NUMERIC_OPERATORS:
        if len(values) != 1:
            detail = "for 'Gt', 'Lt' operators, exactly one value is required"
            errors.append(_invalid("values", values, detail))
        for index, value in enumerate(values):
            if _parse_int64(value) is None:
                detail = "for 'Gt', 'Lt' operators, the value must be an integer"
                errors.append(_invalid(f"values[{index}]", value, detail))
    for index, value in enumerate(values):
        if value_errors := label_value_errors(value):
            errors.append(_invalid(f"values[{index}][{key}]", value, "; ".join(value_errors)))
    return errors


def new_requirement(key: str, operator: Operator | str, values: Iterable[str] = ()) -> Requirement:
    """``NewRequirement``: a validated requirement, or :class:`SelectorError`."""
    op = Operator(operator)
    given = list(values)
    if errors := _requirement_errors(key, op, given):
        raise SelectorError(_aggregate(errors))
    return Requirement(key, op, tuple(given))


@dataclass(frozen=True)
class Selector:
    """An AND of requirements, sorted by key; immutable and hashable.

    ``matches_nothing`` marks ``labels.Nothing()`` (what a nil API selector means): it matches no
    labels and renders as ``""`` just like :data:`EVERYTHING`, which is why a nil selector does
    not survive a round trip through the string form in Kubernetes either.
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.requirements, key=lambda requirement: requirement.key))
        object.__setattr__(self, "requirements", () if self.matches_nothing else ordered)

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.matches_nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (``Selector.Empty``)."""
        return not self.matches_nothing and not self.requirements

    def add(self, *requirements: Requirement) -> Selector:
        """``Selector.Add``: a new selector with more requirements (Nothing stays Nothing)."""
        if self.matches_nothing:
            return self
        return Selector(self.requirements + requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """``RequiresExactMatch``: the single value the first requirement on ``key`` demands."""
        for requirement in self.requirements:
            if requirement.key == key:
                exact = requirement.operator in (
                    Operator.EQUALS,
                    Operator.DOUBLE_EQUALS,
                    Operator.IN,
                )
                if exact and len(requirement.values) == 1:
                    return requirement.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


EVERYTHING = Selector()
NOTHING = Selector(matches_nothing=True)


# --- the string grammar (selector.go Lexer / Parser) ---------------------------------------


class _Token(enum.Enum):
    ERROR = enum.auto()
    END_OF_STRING = enum.auto()
    CLOSED_PAR = enum.auto()
    COMMA = enum.auto()
    DOES_NOT_EXIST = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER_THAN = enum.auto()
    IDENTIFIER = enum.auto()
    IN = enum.auto()
    LESS_THAN = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN_PAR = enum.auto()


_STRING_TO_TOKEN = {
    ")": _Token.CLOSED_PAR,
    ",": _Token.COMMA,
    "!": _Token.DOES_NOT_EXIST,
    "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "in": _Token.IN,
    "<": _Token.LESS_THAN,
    "!=": _Token.NOT_EQUALS,
    "notin": _Token.NOT_IN,
    "(": _Token.OPEN_PAR,
}
_TOKEN_TO_OPERATOR = {
    _Token.IN: Operator.IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
}
_WHITESPACE = frozenset(" \t\r\n")
_SPECIAL = frozenset("=!(),><")
_END = "\0"  # what Go's Lexer.read returns past the end; a NUL in the text acts the same


@dataclass(frozen=True)
class _Item:
    token: _Token
    literal: str
    position: int


def _lex(text: str) -> list[_Item]:
    """All tokens of ``text`` up to and including END_OF_STRING, as ``Parser.scan`` does."""
    pos = 0

    def read() -> str:
        nonlocal pos
        if pos < len(text):
            pos += 1
            return text[pos - 1]
        return _END

    def unread() -> None:
        nonlocal pos
        pos -= 1

    items: list[_Item] = []
    while True:
        ch = read()
        while ch in _WHITESPACE:
            ch = read()
        if ch == _END:
            items.append(_Item(_Token.END_OF_STRING, "", pos))
            return items
        start = pos - 1
        unread()
        buffer = ""
        if ch in _SPECIAL:
            # Longest run of special characters that is still a token ("!=" over "!").
            last: tuple[_Token, str] | None = None
            while (ch := read()) != _END:
                if ch not in _SPECIAL:
                    unread()
                    break
                buffer += ch
                if buffer in _STRING_TO_TOKEN:
                    last = (_STRING_TO_TOKEN[buffer], buffer)
                elif last is not None:
                    unread()
                    break
            if last is None:
                literal = f"error expected: keyword found '{buffer}'"
                items.append(_Item(_Token.ERROR, literal, start))
            else:
                items.append(_Item(last[0], last[1], start))
            continue
        while (ch := read()) != _END:
            if ch in _SPECIAL or ch in _WHITESPACE:
                unread()
                break
            buffer += ch
        items.append(_Item(_STRING_TO_TOKEN.get(buffer, _Token.IDENTIFIER), buffer, start))


class _Parser:
    """``labels.Parser``: recursive descent over the scanned tokens."""

    def __init__(self, text: str) -> None:
        self._items = _lex(text)
        self._index = 0

    def _peek(self, *, values: bool) -> _Item:
        return self._as_value(self._items[self._index], values=values)

    def _next(self, *, values: bool) -> _Item:
        self._index += 1
        return self._as_value(self._items[self._index - 1], values=values)

    @staticmethod
    def _as_value(item: _Item, *, values: bool) -> _Item:
        # In value position "in" and "notin" are ordinary identifiers ("x in (in)").
        if values and item.token in (_Token.IN, _Token.NOT_IN):
            return _Item(_Token.IDENTIFIER, item.literal, item.position)
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            item = self._peek(values=True)
            if item.token is _Token.END_OF_STRING:
                return requirements
            if item.token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise _found(item, "!, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(
                    f"unable to parse requirement: {error}", position=error.position
                ) from None
            after = self._next(values=True)
            if after.token is _Token.END_OF_STRING:
                return requirements
            if after.token is not _Token.COMMA:
                raise _found(after, "',' or 'end of string'")
            following = self._peek(values=True)
            if following.token not in (_Token.IDENTIFIER, _Token.DOES_NOT_EXIST):
                raise _found(following, "identifier after ','")

    def _requirement(self) -> Requirement:
        first = self._next(values=True)
        item = first
        negated = item.token is _Token.DOES_NOT_EXIST
        if negated:
            item = self._next(values=True)
        if item.token is not _Token.IDENTIFIER:
            raise _found(item, "identifier")
        key = item.literal
        if key_errors := label_key_errors(key):
            # Go validates with the parser's (nil) field path here, which prints as "<nil>".
            message = _invalid("<nil>", key, "; ".join(key_errors))
            raise SelectorError(message, position=item.position)
        if negated:
            # "!key" takes no operator; whatever follows is the caller's problem, so "!x=a"
            # fails with "found '=', expected: ',' or 'end of string'" as in Go.
            return self._validated(key, Operator.DOES_NOT_EXIST, [], first.position)
        if self._peek(values=True).token in (_Token.END_OF_STRING, _Token.COMMA):
            return self._validated(key, Operator.EXISTS, [], first.position)
        operator_item = self._next(values=False)
        operator = _TOKEN_TO_OPERATOR.get(operator_item.token)
        if operator is None:
            expected = ", ".join(op.value for op in _BINARY_OPERATORS)
            raise _found(operator_item, expected)
        if operator in _SET_OPERATORS:
            values = self._set_values()
        else:
            values = self._exact_value()
        return self._validated(key, operator, sorted(set(values)), first.position)

    @staticmethod
    def _validated(key: str, operator: Operator, values: list[str], position: int) -> Requirement:
        if errors := _requirement_errors(key, operator, values):
            raise SelectorError(_aggregate(errors), position=position)
        return Requirement(key, operator, tuple(values))

    def _set_values(self) -> list[str]:
        opening = self._next(values=True)
        if opening.token is not _Token.OPEN_PAR:
            raise SelectorError(
                f"found '{opening.literal}' expected: '('", position=opening.position
            )
        item = self._peek(values=True)
        if item.token in (_Token.IDENTIFIER, _Token.COMMA):
            values = self._identifiers()
            closing = self._next(values=True)
            if closing.token is not _Token.CLOSED_PAR:
                # Go reports the first token inside the parentheses here.
                raise SelectorError(
                    f"found '{item.literal}', expected: ')'", position=closing.position
                )
            return values
        if item.token is _Token.CLOSED_PAR:
            self._next(values=True)
            return [""]
        raise _found(item, "',', ')' or identifier")

    def _identifiers(self) -> list[str]:
        """A comma separated list in which any element may be empty: ``(a,,b)``, ``(,a)``."""
        values: list[str] = []
        while True:
            item = self._next(values=True)
            if item.token is _Token.IDENTIFIER:
                values.append(item.literal)
                following = self._peek(values=True)
                if following.token is _Token.COMMA:
                    continue
                if following.token is _Token.CLOSED_PAR:
                    return values
                raise _found(following, "',' or ')'")
            if item.token is _Token.COMMA:
                if not values:
                    values.append("")
                if self._peek(values=True).token in (_Token.CLOSED_PAR, _Token.COMMA):
                    values.append("")
                    if self._peek(values=True).token is _Token.CLOSED_PAR:
                        return values
                continue
            raise _found(item, "',', or identifier")

    def _exact_value(self) -> list[str]:
        if self._peek(values=True).token in (_Token.END_OF_STRING, _Token.COMMA):
            return [""]
        item = self._next(values=True)
        if item.token is _Token.IDENTIFIER:
            return [item.literal]
        raise _found(item, "identifier")


def _found(item: _Item, expected: str) -> SelectorError:
    return SelectorError(f"found '{item.literal}', expected: {expected}", position=item.position)


def parse(text: str) -> Selector:
    """``labels.Parse``: the string form (``a=b,c in (d,e),!f,g>1``) to a :class:`Selector`."""
    return Selector(tuple(_Parser(text).parse()))


# --- the API LabelSelector and plain label maps --------------------------------------------

_API_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def from_label_selector(obj: Mapping[str, Any] | None) -> Selector:
    """``LabelSelectorAsSelector``: ``None`` matches nothing, ``{}`` everything.

    ``obj`` is the JSON form: ``{"matchLabels": {k: v}, "matchExpressions": [{"key": k,
    "operator": "In", "values": [...]}]}``; ``matchLabels`` entries become ``k=v``.
    """
    if obj is None:
        return NOTHING
    match_labels: Mapping[str, str] = obj.get("matchLabels") or {}
    expressions: Sequence[Mapping[str, Any]] = obj.get("matchExpressions") or []
    requirements = [
        new_requirement(key, Operator.EQUALS, [match_labels[key]]) for key in sorted(match_labels)
    ]
    for expression in expressions:
        api_operator = expression.get("operator", "")
        operator = _API_OPERATORS.get(api_operator)
        if operator is None:
            raise SelectorError(
                f"{_go_quote(str(api_operator))} is not a valid pod selector operator"
            )
        values = expression.get("values") or []
        requirements.append(new_requirement(expression.get("key", ""), operator, values))
    return Selector(tuple(requirements))


def to_label_selector(selector: Selector) -> dict[str, Any] | None:
    """The API form of ``selector``: ``None`` for NOTHING, ``{}`` for EVERYTHING.

    ``=``/``==`` become ``matchLabels`` (an ``In`` expression if the key repeats), ``!=``
    becomes ``NotIn`` (the same match). ``>``/``<`` have no API form: :class:`SelectorError`.
    """
    if selector.matches_nothing:
        return None
    match_labels: dict[str, str] = {}
    expressions: list[dict[str, Any]] = []
    for requirement in selector.requirements:
        op = requirement.operator
        if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS) and requirement.key not in match_labels:
            match_labels[requirement.key] = requirement.values[0]
            continue
        if op in _NUMERIC_OPERATORS:
            raise SelectorError(f"{str(requirement)!r} cannot be expressed as a LabelSelector")
        api_operator = {
            Operator.EQUALS: "In",
            Operator.DOUBLE_EQUALS: "In",
            Operator.IN: "In",
            Operator.NOT_EQUALS: "NotIn",
            Operator.NOT_IN: "NotIn",
            Operator.EXISTS: "Exists",
            Operator.DOES_NOT_EXIST: "DoesNotExist",
        }[op]
        expression: dict[str, Any] = {"key": requirement.key, "operator": api_operator}
        if requirement.values:
            expression["values"] = list(requirement.values)
        expressions.append(expression)
    result: dict[str, Any] = {}
    if match_labels:
        result["matchLabels"] = match_labels
    if expressions:
        result["matchExpressions"] = expressions
    return result


def from_set(labels: Mapping[str, str] | None, *, validate: bool = False) -> Selector:
    """``SelectorFromSet`` (``k=v`` for each entry; ``None``/``{}`` is EVERYTHING).

    Like Kubernetes it does not validate unless asked (``ValidatedSelectorFromSet``).
    """
    if not labels:
        return EVERYTHING
    if validate:
        return Selector(tuple(new_requirement(k, Operator.EQUALS, [v]) for k, v in labels.items()))
    return Selector(tuple(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items()))


def is_equality_only(selector: Selector) -> bool:
    """Whether ``selector`` is a plain label map, the only form a ReplicationController's or
    Service's ``spec.selector`` can hold: every term ``=``/``==``, each key once."""
    if selector.matches_nothing:
        return False
    keys = [requirement.key for requirement in selector.requirements]
    equality = (Operator.EQUALS, Operator.DOUBLE_EQUALS)
    return len(set(keys)) == len(keys) and all(
        requirement.operator in equality for requirement in selector.requirements
    )


def to_set(selector: Selector) -> dict[str, str]:
    """The label map of an equality-only selector (see :func:`is_equality_only`)."""
    if not is_equality_only(selector):
        raise SelectorError(f"selector {str(selector)!r} is not a set of key=value pairs")
    return {requirement.key: requirement.values[0] for requirement in selector.requirements}


def parse_equality_only(text: str) -> dict[str, str]:
    """``labels.ConvertSelectorToLabelsMap`` (kubectl's reading of RC/Service selectors).

    Only ``k=v`` terms separated by commas, surrounding spaces trimmed; ``==`` and ``!=`` are
    rejected because a ReplicationController or Service selector is a plain map.
    """
    result: dict[str, str] = {}
    if not text:
        return result
    for term in text.split(","):
        parts = term.split("=")
        if len(parts) != 2:
            raise SelectorError(f"invalid selector: [{' '.join(parts)}]")
        key, value = parts[0].strip(), parts[1].strip()
        if key_errors := label_key_errors(key):
            raise SelectorError(_invalid("key", key, "; ".join(key_errors)))
        if value_errors := label_value_errors(value):
            raise SelectorError(_invalid(f"value[{key}]", value, "; ".join(value_errors)))
        result[key] = value
    return result
