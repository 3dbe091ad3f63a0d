"""Label selectors: Kubernetes' parser and matching tables, the API form, and properties
showing the string form and the structured form agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.model.selectors import (
    EVERYTHING,
    NOTHING,
    Operator,
    Requirement,
    Selector,
    SelectorError,
    from_label_selector,
    from_set,
    is_equality_only,
    new_requirement,
    parse,
    parse_equality_only,
    to_label_selector,
    to_set,
)

LABEL_VALUE_REGEX_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# --- Kubernetes' selector_test.go --------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1", "x>1,z<5"],
)
def test_good_strings_restring_without_spaces(text: str) -> None:
    assert str(parse(text)) == text.replace(" ", "")


@pytest.mark.parametrize("text", ["x=a||y=b", "x==a==b", "!x=a", "x<a"])
def test_bad_strings(text: str) -> None:
    with pytest.raises(SelectorError):
        parse(text)


def test_parse_is_deterministic() -> None:
    assert str(parse("x=a,a=x")) == str(parse("a=x,x=a")) == "a=x,x=a"


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {"x": "y"}, True),
        ("x=y", {"x": "y"}, True),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
        ("notin=in", {"notin": "in"}, True),
        ("x", {"x": "z"}, True),
        ("!x", {"y": "z"}, True),
        ("x>1", {"x": "2"}, True),
        ("x<1", {"x": "0"}, True),
        ("x=z", {}, False),
        ("x=y", {"x": "z"}, False),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
        ("x", {"y": "z"}, False),
        ("!x", {"x": "z"}, False),
        ("x>1", {"x": "0"}, False),
        ("x<1", {"x": "2"}, False),
        ("foo=bar", {"foo": "bar", "baz": "blah"}, True),
        ("baz=blah", {"foo": "bar", "baz": "blah"}, True),
        ("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True),
        ("foo=blah", {"foo": "bar", "baz": "blah"}, False),
        ("baz=bar", {"foo": "bar", "baz": "blah"}, False),
        ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
        # k8s-semantics.md §6 table: absent keys
        ("x!=a", {}, True),
        ("x notin (a)", {}, True),
        ("x in (a)", {}, False),
        ("x==a", {}, False),
        ("x>1", {}, False),
        ("x<1", {}, False),
        # Gt/Lt on a value that is not an integer does not match
        ("x>1", {"x": "v2"}, False),
        ("x<1", {"x": "v2"}, False),
        ("x>1", {"x": "99999999999999999999"}, False),
        ("x in (,a)", {"x": ""}, True),
        ("x in ()", {"x": "a"}, False),
        ("x=", {"x": ""}, True),
    ],
)
def test_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse(text).matches(labels) is expected


def req(key: str, op: Operator, *values: str) -> Requirement:
    return new_requirement(key, op, values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", EVERYTHING),
        ("\rx", Selector((req("x", Operator.EXISTS),))),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            Selector((req("this-is-a-dns.domain.com/key-with-dash", Operator.EXISTS),)),
        ),
        (
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            Selector(
                (req("this-is-another-dns.domain.com/key-with-dash", Operator.IN, "so", "what"),)
            ),
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            Selector((req("0.1.2.domain/99", Operator.NOT_IN, "10.10.100.1", "tick.tack.clock"),)),
        ),
        ("foo  in\t (abc)", Selector((req("foo", Operator.IN, "abc"),))),
        ("x notin\n (abc)", Selector((req("x", Operator.NOT_IN, "abc"),))),
        ("x  notin\t\t\t(abc,def)", Selector((req("x", Operator.NOT_IN, "abc", "def"),))),
        ("x in (abc,def)", Selector((req("x", Operator.IN, "abc", "def"),))),
        ("x in (abc,)", Selector((req("x", Operator.IN, "abc", ""),))),
        ("x in ()", Selector((req("x", Operator.IN, ""),))),
        (
            "x notin (abc,,def),bar,z in (),w",
            Selector(
                (
                    req("bar", Operator.EXISTS),
                    req("w", Operator.EXISTS),
                    req("x", Operator.NOT_IN, "abc", "", "def"),
                    req("z", Operator.IN, ""),
                )
            ),
        ),
        ("x=a", Selector((req("x", Operator.EQUALS, "a"),))),
        ("x==a", Selector((req("x", Operator.DOUBLE_EQUALS, "a"),))),
        ("x>1", Selector((req("x", Operator.GREATER_THAN, "1"),))),
        ("x<7", Selector((req("x", Operator.LESS_THAN, "7"),))),
        (
            "x=a,y!=b,z in (h,i,j)",
            Selector(
                (
                    req("x", Operator.EQUALS, "a"),
                    req("y", Operator.NOT_EQUALS, "b"),
                    req("z", Operator.IN, "h", "i", "j"),
                )
            ),
        ),
        ("x notin ( )", Selector((req("x", Operator.NOT_IN, ""),))),
        ("x notin (, a)", Selector((req("x", Operator.NOT_IN, "", "a"),))),
        ("a ", Selector((req("a", Operator.EXISTS),))),
        (
            "a in (x,y,notin, z,in)",
            Selector((req("a", Operator.IN, "in", "notin", "x", "y", "z"),)),
        ),
        ("in in (in)", Selector((req("in", Operator.IN, "in"),))),
        ("!in", Selector((req("in", Operator.DOES_NOT_EXIST),))),
    ],
)
def test_set_selector_parser(text: str, expected: Selector) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (
            "x=a||y=b",
            'unable to parse requirement: values[0][x]: Invalid value: "a||y": '
            + LABEL_VALUE_REGEX_ERROR,
            0,
        ),
        ("x==a==b", "found '==', expected: ',' or 'end of string'", 4),
        ("!x=a", "found '=', expected: ',' or 'end of string'", 2),
        (
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' "
            "operators, the value must be an integer",
            0,
        ),
        (
            "x>",
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' "
            "operators, the value must be an integer",
            0,
        ),
        ("x,,y", "found ',', expected: identifier after ','", 2),
        (",x,y", "found ',', expected: !, identifier, or 'end of string'", 0),
        (
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
            2,
        ),
        ("a in (xyz),", "found '', expected: identifier after ','", 11),
        ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'", 10),
        ("a in (xyz abc)", "unable to parse requirement: found 'abc', expected: ',' or ')'", 10),
        ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier", 8),
        ("a in x", "unable to parse requirement: found 'x' expected: '('", 5),
        ("a in (x=)", "unable to parse requirement: found '=', expected: ',' or ')'", 7),
        ("a in (,=)", "unable to parse requirement: found '=', expected: ',', or identifier", 7),
        (
            "a (",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
            2,
        ),
        ("(", "found '(', expected: !, identifier, or 'end of string'", 0),
        ("!", "unable to parse requirement: found '', expected: identifier", 1),
        ("x=(", "unable to parse requirement: found '(', expected: identifier", 2),
        (
            "-x",
            'unable to parse requirement: <nil>: Invalid value: "-x": name part must consist '
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
            "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            0,
        ),
        (
            "x>-1",
            'unable to parse requirement: values[0][x]: Invalid value: "-1": '
            + LABEL_VALUE_REGEX_ERROR,
            0,
        ),
    ],
)
def test_parse_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(SelectorError) as raised:
        parse(text)
    assert str(raised.value) == message
    assert raised.value.position == position


@pytest.mark.parametrize(
    ("key", "op", "values", "ok"),
    [
        ("x", Operator.IN, [], False),
        ("x", Operator.NOT_IN, [], False),
        ("x", Operator.IN, ["foo"], True),
        ("x", Operator.NOT_IN, ["foo"], True),
        ("x", Operator.EXISTS, [], True),
        ("x", Operator.DOES_NOT_EXIST, [], True),
        ("1foo", Operator.IN, ["bar"], True),
        ("1234", Operator.IN, ["bar"], True),
        ("y", Operator.GREATER_THAN, ["1"], True),
        ("z", Operator.LESS_THAN, ["6"], True),
        ("foo", Operator.GREATER_THAN, ["bar"], False),
        ("barz", Operator.LESS_THAN, ["blah"], False),
        ("a" * 254, Operator.EXISTS, [], False),
        ("x", Operator.EQUALS, ["a", "b"], False),
        ("x", Operator.EXISTS, ["a"], False),
        ("x", Operator.GREATER_THAN, ["1", "2"], False),
    ],
)
def test_requirement_constructor(key: str, op: Operator, values: list[str], ok: bool) -> None:
    if ok:
        assert new_requirement(key, op, values).key == key
    else:
        with pytest.raises(SelectorError):
            new_requirement(key, op, values)


def test_requirement_constructor_aggregates_several_errors() -> None:
    with pytest.raises(SelectorError) as raised:
        new_requirement("-k", Operator.EQUALS, ["a", "-b"])
    message = str(raised.value)
    assert message.startswith('[key: Invalid value: "-k": name part must consist')
    assert 'values: Invalid value: ["a","-b"]: exact-match compatibility requires one single ' in (
        message
    )
    assert message.endswith("]")


@pytest.mark.parametrize(
    ("requirements", "text"),
    [
        (
            [
                req("x", Operator.IN, "abc", "def"),
                req("y", Operator.NOT_IN, "jkl"),
                req("z", Operator.EXISTS),
            ],
            "x in (abc,def),y notin (jkl),z",
        ),
        (
            [
                req("x", Operator.NOT_IN, "abc", "def"),
                req("y", Operator.NOT_EQUALS, "jkl"),
                req("z", Operator.DOES_NOT_EXIST),
            ],
            "x notin (abc,def),y!=jkl,!z",
        ),
        (
            [
                req("x", Operator.NOT_IN, "abc"),
                req("y", Operator.IN, "jkl", "mno"),
                req("z", Operator.NOT_IN, ""),
            ],
            "x notin (abc),y in (jkl,mno),z notin ()",
        ),
        (
            [
                req("x", Operator.EQUALS, "abc"),
                req("y", Operator.DOUBLE_EQUALS, "jkl"),
                req("z", Operator.NOT_EQUALS, "a"),
                req("z", Operator.EXISTS),
            ],
            "x=abc,y==jkl,z!=a,z",
        ),
        (
            [
                req("x", Operator.GREATER_THAN, "2"),
                req("y", Operator.LESS_THAN, "8"),
                req("z", Operator.EXISTS),
            ],
            "x>2,y<8,z",
        ),
        ([req("b", Operator.EXISTS), req("a", Operator.IN, "b", "a")], "a in (a,b),b"),
    ],
)
def test_to_string(requirements: list[Requirement], text: str) -> None:
    assert str(Selector(tuple(requirements))) == text


@pytest.mark.parametrize(
    ("labels", "requirements", "expected"),
    [
        (
            {"x": "foo", "y": "baz"},
            [req("x", Operator.IN, "foo"), req("y", Operator.NOT_IN, "alpha")],
            True,
        ),
        (
            {"x": "foo", "y": "baz"},
            [req("x", Operator.IN, "foo"), req("y", Operator.IN, "alpha")],
            False,
        ),
        ({"y": ""}, [req("x", Operator.NOT_IN, ""), req("y", Operator.EXISTS)], True),
        ({"y": ""}, [req("x", Operator.DOES_NOT_EXIST), req("y", Operator.EXISTS)], True),
        ({"y": ""}, [req("x", Operator.NOT_IN, ""), req("y", Operator.DOES_NOT_EXIST)], False),
        ({"y": "baz"}, [req("x", Operator.IN, "")], False),
        ({"z": "2"}, [req("z", Operator.GREATER_THAN, "1")], True),
        ({"z": "v2"}, [req("z", Operator.GREATER_THAN, "1")], False),
    ],
)
def test_requirement_selector_matching(
    labels: dict[str, str], requirements: list[Requirement], expected: bool
) -> None:
    assert Selector(tuple(requirements)).matches(labels) is expected


def test_gt_lt_with_wrong_value_count_never_match() -> None:
    # Only reachable by building a Requirement without new_requirement, as in Go.
    assert not Requirement("x", Operator.GREATER_THAN, ("1", "2")).matches({"x": "5"})
    assert not Requirement("x", Operator.LESS_THAN, ("a",)).matches({"x": "0"})


# --- special selectors, sets and the API form ---------------------------------------------


def test_everything_and_nothing() -> None:
    assert EVERYTHING.matches({"x": "y"}) and EVERYTHING.matches({})
    assert EVERYTHING.empty
    assert not NOTHING.matches({}) and not NOTHING.matches({"x": "y"})
    assert not NOTHING.empty
    assert str(EVERYTHING) == str(NOTHING) == ""
    assert NOTHING.add(req("x", Operator.EXISTS)) is NOTHING
    assert EVERYTHING.add(req("x", Operator.EXISTS)) == parse("x")
    assert parse("") == EVERYTHING != NOTHING


def test_from_set() -> None:
    assert from_set(None) == from_set({}) == EVERYTHING
    labels = {"foo": "bar", "baz": "blah"}
    assert str(from_set(labels)) == "baz=blah,foo=bar"
    for selector in ({}, {"foo": "bar"}, {"baz": "blah"}, labels):
        assert from_set(selector).matches(labels)
    assert not from_set({"foo": "bar", "x": "y"}).matches(labels)
    # Like SelectorFromSet, no validation unless asked (ValidatedSelectorFromSet).
    assert from_set({"foo": "=blah"}).requirements[0].values == ("=blah",)
    with pytest.raises(SelectorError):
        from_set({"foo": "=blah"}, validate=True)


def test_requires_exact_match() -> None:
    selector = parse("a=1,b in (2),c in (3,4),d!=5")
    assert selector.requires_exact_match("a") == "1"
    assert selector.requires_exact_match("b") == "2"
    assert selector.requires_exact_match("c") is None
    assert selector.requires_exact_match("d") is None
    assert selector.requires_exact_match("e") is None


def test_from_label_selector() -> None:
    assert from_label_selector(None) is NOTHING
    assert from_label_selector({}) == EVERYTHING
    assert from_label_selector({"matchLabels": {}, "matchExpressions": []}) == EVERYTHING
    selector = from_label_selector(
        {
            "matchLabels": {"app": "web", "tier": "front"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "staging"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists", "values": []},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env in (prod,staging),gpu,tier=front,zone notin (b)"
    assert selector.matches({"app": "web", "tier": "front", "env": "prod", "gpu": "1"})
    assert not selector.matches({"app": "web", "tier": "front", "env": "dev", "gpu": "1"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid pod selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "in", "values": ["1"]}]},
            '"in" is not a valid pod selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        (
            {"matchLabels": {"a": "-x"}},
            'values[0][a]: Invalid value: "-x": ' + LABEL_VALUE_REGEX_ERROR,
        ),
    ],
)
def test_from_label_selector_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        from_label_selector(obj)
    assert str(raised.value) == message


def test_to_label_selector() -> None:
    assert to_label_selector(NOTHING) is None
    assert to_label_selector(EVERYTHING) == {}
    assert to_label_selector(parse("a=1,a==2,b!=3,c in (4,5),!d,e")) == {
        "matchLabels": {"a": "1"},
        "matchExpressions": [
            {"key": "a", "operator": "In", "values": ["2"]},
            {"key": "b", "operator": "NotIn", "values": ["3"]},
            {"key": "c", "operator": "In", "values": ["4", "5"]},
            {"key": "d", "operator": "DoesNotExist"},
            {"key": "e", "operator": "Exists"},
        ],
    }
    with pytest.raises(SelectorError):
        to_label_selector(parse("a>1"))


def test_equality_only() -> None:
    assert parse_equality_only("") == {}
    assert parse_equality_only("app=web, tier = front") == {"app": "web", "tier": "front"}
    assert parse_equality_only("app=") == {"app": ""}
    with pytest.raises(SelectorError, match=r"^invalid selector: \[a  b\]$"):
        parse_equality_only("a==b")
    with pytest.raises(SelectorError, match=r"^invalid selector: \[a\]$"):
        parse_equality_only("a")
    with pytest.raises(SelectorError, match=r'^key: Invalid value: "a!": name part must'):
        parse_equality_only("a!=b")
    with pytest.raises(SelectorError, match=r'^value\[a\]: Invalid value: "-b": a valid label'):
        parse_equality_only("a=-b")
    assert is_equality_only(parse("a=1,b==2"))
    assert is_equality_only(EVERYTHING)
    assert not is_equality_only(NOTHING)
    assert not is_equality_only(parse("a=1,a=2"))
    assert not is_equality_only(parse("a!=1"))
    assert not is_equality_only(parse("a in (1)"))
    assert to_set(parse("b==2,a=1")) == {"a": "1", "b": "2"}
    with pytest.raises(SelectorError):
        to_set(parse("a"))


# --- properties -------------------------------------------------------------------------

KEYS = st.one_of(
    st.sampled_from(["a", "b", "app", "in", "notin", "example.com/tier", "k8s.io/x-y_z.1"]),
    st.from_regex(
        # prefix: a DNS-1123 subdomain (dot-separated labels); then the name part
        r"([a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,4}[a-z0-9])?){0,2}/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?",
        fullmatch=True,
    ),
)
VALUES = st.one_of(
    st.sampled_from(["", "x", "y", "in", "notin", "0", "1", "7", "10", "v.1"]),
    st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,6}[A-Za-z0-9])?)?", fullmatch=True),
)
LABEL_SETS = st.dictionaries(KEYS, VALUES, max_size=6)


@st.composite
def api_expressions(draw: st.DrawFn) -> dict[str, Any]:
    operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
    expression: dict[str, Any] = {"key": draw(KEYS), "operator": operator}
    if operator in ("In", "NotIn"):
        expression["values"] = draw(st.lists(VALUES, min_size=1, max_size=4))
    elif draw(st.booleans()):
        expression["values"] = []
    return expression


API_SELECTORS = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": st.dictionaries(KEYS, VALUES, max_size=3),
        "matchExpressions": st.lists(api_expressions(), max_size=4),
    },
)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    operator = draw(st.sampled_from(list(Operator)))
    if operator in (Operator.IN, Operator.NOT_IN):
        values = draw(st.lists(VALUES, min_size=1, max_size=4))
    elif operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        values = [str(draw(st.integers(min_value=0, max_value=2**63 - 1)))]
    elif operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        values = []
    else:
        values = [draw(VALUES)]
    return new_requirement(draw(KEYS), operator, values)


SELECTORS = st.lists(requirements(), max_size=5).map(lambda reqs: Selector(tuple(reqs)))

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@PROPERTY_SETTINGS
@given(API_SELECTORS, LABEL_SETS)
def test_structured_and_string_forms_match_alike(
    obj: dict[str, Any], labels: dict[str, str]
) -> None:
    selector = from_label_selector(obj)
    assert parse(str(selector)).matches(labels) == selector.matches(labels)


@PROPERTY_SETTINGS
@given(API_SELECTORS, LABEL_SETS)
def test_structured_selector_means_the_and_of_its_terms(
    obj: dict[str, Any], labels: dict[str, str]
) -> None:
    expected = all(labels.get(k) == v for k, v in obj.get("matchLabels", {}).items())
    for expression in obj.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        expected = (
            expected
            and {
                "In": key in labels and labels[key] in values,
                "NotIn": key not in labels or labels[key] not in values,
                "Exists": key in labels,
                "DoesNotExist": key not in labels,
            }[operator]
        )
    assert from_label_selector(obj).matches(labels) == expected


@PROPERTY_SETTINGS
@given(API_SELECTORS)
def test_structured_selector_round_trips_through_the_string_form(obj: dict[str, Any]) -> None:
    selector = from_label_selector(obj)
    assert parse(str(selector)) == selector


@PROPERTY_SETTINGS
@given(SELECTORS)
def test_string_form_round_trips(selector: Selector) -> None:
    assert parse(str(selector)) == selector
    assert str(parse(str(selector))) == str(selector)


@PROPERTY_SETTINGS
@given(SELECTORS, LABEL_SETS)
def test_to_label_selector_keeps_the_meaning(selector: Selector, labels: dict[str, str]) -> None:
    numeric = {Operator.GREATER_THAN, Operator.LESS_THAN}
    if any(requirement.operator in numeric for requirement in selector.requirements):
        with pytest.raises(SelectorError):
            to_label_selector(selector)
        return
    structured = to_label_selector(selector)
    assert structured is not None
    back = from_label_selector(structured)
    assert back.matches(labels) == selector.matches(labels)
    assert to_label_selector(back) == structured


@PROPERTY_SETTINGS
@given(st.dictionaries(KEYS, VALUES, max_size=5), LABEL_SETS)
def test_equality_forms_agree(label_map: dict[str, str], labels: dict[str, str]) -> None:
    text = ",".join(f"{k}={v}" for k, v in label_map.items())
    assert parse_equality_only(text) == label_map
    assert from_set(label_map) == parse(text)
    assert to_set(from_set(label_map)) == label_map
    assert from_set(label_map).matches(labels) == all(
        labels.get(k) == v for k, v in label_map.items()
    )


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab=!(),<> \t19-/.in")), max_size=20))
def test_parse_either_succeeds_and_round_trips_or_raises_selector_error(text: str) -> None:
    try:
        selector = parse(text)
    except SelectorError as error:
        assert error.position is None or 0 <= error.position <= len(text)
        return
    assert parse(str(selector)) == selector
