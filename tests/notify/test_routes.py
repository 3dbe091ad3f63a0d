"""AlertRoute validation and matching tables (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dockyard.model.validation import InvalidObject, parse_object
from dockyard.notify.facts import AlertFact, Owner
from dockyard.notify.matching import group_key, quiet_until, route_matches
from dockyard.notify.routes import AlertRoute, QuietHours
from tests.notify.conftest import route_body

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _route(**spec: Any) -> AlertRoute:
    route = parse_object(route_body("r", **spec))
    assert isinstance(route, AlertRoute)
    return route


def _fact(**changes: Any) -> AlertFact:
    values: dict[str, Any] = {
        "reasons": frozenset({"Restarted", "Error"}),
        "namespace": "prod",
        "pod": "web-1",
        "pod_uid": "uid-1",
        "container": "app",
        "node": "node-1",
        "observed_at": NOW,
        "position": 1,
        "labels": {"app": "web", "tier": "front"},
        "owner": Owner("Deployment", "web", "d-uid"),
        "restart_count": 3,
    }
    values.update(changes)
    return AlertFact(**values)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"reasons": ["Restarted", "Exploded"]}, 'spec.reasons[1]: Unsupported value: "Exploded"'),
        ({"template": "{{pod}} died on {{nodename}}"}, "unknown template variable {{nodename}}"),
        (
            {"destination": {"webhook": {"url": "hooks.slack.com/services/x"}}},
            "spec.destination.webhook.url: Invalid value",
        ),
        ({"destination": {}}, "spec.destination: Required value"),
        (
            {"destination": {"slack": {"channel": "C1AAA"}, "webhook": {"url": "https://x.y/"}}},
            "may not specify more than one destination",
        ),
        ({"destination": {"slack": {"channel": "bad channel"}}}, "spec.destination.slack.channel"),
        ({"namespaces": ["Prod"]}, "spec.namespaces[0]"),
        ({"ownerKinds": ["Deploymnt"]}, 'spec.ownerKinds[0]: Unsupported value: "Deploymnt"'),
        ({"minRestartCount": -1}, "spec.minRestartCount"),
        ({"minRestartCount": "3"}, "spec.minRestartCount: Invalid value"),
        ({"quietHours": {"start": "25:00", "end": "07:00"}}, "spec.quietHours.start"),
        (
            {"quietHours": {"start": "22:00", "end": "07:00", "timeZone": "Mars/Olympus"}},
            "spec.quietHours.timeZone",
        ),
        ({"mentions": ["@bob"]}, "spec.mentions[0]"),
        ({"redactPatterns": ["(unclosed"]}, "spec.redactPatterns[0]"),
        ({"resolveAfterSeconds": 0}, "spec.resolveAfterSeconds"),
        ({"reasons": ["Restarted", "Restarted"]}, "spec.reasons[1]: Duplicate value"),
        (
            {"reasons": ["NodeNotReady"], "minRestartCount": 2},
            "this route can never match anything",
        ),
        (
            {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}},
            "spec.labelSelector",
        ),
        ({"colour": "red"}, 'unknown field "spec.colour"'),
    ],
)
def test_bad_routes_are_rejected_naming_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidObject) as caught:
        parse_object(route_body("r", **spec))
    assert message in str(caught.value)


def test_a_complete_route_is_valid() -> None:
    route = _route(
        namespaces=["prod", "staging"],
        labelSelector={"matchLabels": {"app": "web"}},
        ownerKinds=["Deployment", "DaemonSet"],
        reasons=["CrashLoopBackOff", "OOMKilled"],
        minRestartCount=3,
        quietHours={"start": "22:00", "end": "07:00", "timeZone": "Europe/Berlin"},
        destination={"slack": {"channel": "#alerts", "tokenSecret": "team-a"}},
        mentions=["here", "U0123ABCD", "S0123ABCD"],
        template="{{reason}} in {{namespace}}/{{pod}} ({{restartCount}} restarts)",
        resolveAfterSeconds=300,
        redactPatterns=["card=\\d+"],
    )
    assert route.spec.min_restart_count == 3


@pytest.mark.parametrize(
    ("spec", "fact", "matches"),
    [
        ({}, {}, True),
        ({"namespaces": ["prod"]}, {}, True),
        ({"namespaces": ["staging"]}, {}, False),
        ({"labelSelector": {"matchLabels": {"app": "web"}}}, {}, True),
        ({"labelSelector": {"matchLabels": {"app": "api"}}}, {}, False),
        (
            {"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}},
            {},
            True,
        ),
        ({"ownerKinds": ["Deployment"]}, {}, True),
        ({"ownerKinds": ["DaemonSet"]}, {}, False),
        ({"ownerKinds": ["Deployment"]}, {"owner": None}, False),
        ({"reasons": ["OOMKilled"]}, {}, False),
        ({"reasons": ["Error", "OOMKilled"]}, {}, True),
        ({"minRestartCount": 3}, {}, True),
        ({"minRestartCount": 4}, {}, False),
        (
            {"minRestartCount": 4},
            {"reasons": frozenset({"ImagePullBackOff"}), "restart_count": 0},
            True,
        ),
        (
            {"reasons": ["NodeNotReady"]},
            {"reasons": frozenset({"NodeNotReady"}), "pod_uid": "node:n1", "namespace": ""},
            True,
        ),
        (
            {"namespaces": ["prod"]},
            {"reasons": frozenset({"NodeNotReady"}), "pod_uid": "node:n1", "namespace": ""},
            False,
        ),
    ],
)
def test_route_matching(spec: dict[str, Any], fact: dict[str, Any], matches: bool) -> None:
    assert route_matches(_route(**spec), _fact(**fact)) is matches


def test_episodes_group_by_owner_then_pod_then_node() -> None:
    assert group_key(_fact()) == "prod/Deployment/web"
    assert group_key(_fact(owner=None)) == "prod/Pod/web-1"
    assert group_key(_fact(pod_uid="node:n1", node="n1")) == "Node/n1"


@pytest.mark.parametrize(
    ("start", "end", "hour", "held_until_hour"),
    [
        ("22:00", "07:00", 23, 7),
        ("22:00", "07:00", 3, 7),
        ("22:00", "07:00", 12, None),
        ("12:00", "13:00", 12, 13),
        ("12:00", "13:00", 13, None),
    ],
)
def test_quiet_hours_hold_alerts_until_they_end(
    start: str, end: str, hour: int, held_until_hour: int | None
) -> None:
    now = NOW.replace(hour=hour)
    held = quiet_until(QuietHours(start=start, end=end, time_zone="UTC"), now)
    if held_until_hour is None:
        assert held is None
    else:
        assert held is not None and held.hour == held_until_hour and held > now
