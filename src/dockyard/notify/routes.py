"""The ``AlertRoute`` kind (``dockyard.io/v1``): which failures go to which Slack channel.

Routes are cluster-scoped (like ClusterRole): one route can watch several namespaces, and a
pod's ``lifecycle.postStart.notify.route`` names a route without a namespace. They are applied,
changed and audited like any other object.

Every mistake a user can make in a route is caught at apply time with the field named: an
unknown reason, a template variable that does not exist, a webhook URL that is not one, a
selector that does not parse, a route that can never match anything.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from dockyard.model import names
from dockyard.model.kinds import KindInfo, register
from dockyard.model.meta import KubeModel, KubeObject, LabelSelector, to_dict
from dockyard.model.selectors import SelectorError, from_label_selector
from dockyard.model.validation import (
    FieldError,
    child,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    register_validator,
    required,
)

API_VERSION: Final = "dockyard.io/v1"
KIND: Final = "AlertRoute"

REASONS: Final = (
    "Restarted",
    "CrashLoopBackOff",
    "OOMKilled",
    "Error",
    "FailedPostStartHook",
    "FailedPreStopHook",
    "Unhealthy",
    "ImagePullBackOff",
    "NodeNotReady",
)
# Reasons that are about a node, not a pod: they have no labels, owner or restart count.
NODE_REASONS: Final = frozenset({"NodeNotReady"})

# What a template may use, as {{name}}. The same names are used by the notify hook.
TEMPLATE_VARIABLES: Final = (
    "namespace",
    "pod",
    "container",
    "node",
    "owner",
    "ownerKind",
    "restartCount",
    "exitCode",
    "reason",
    "reasons",
    "message",
    "hook",
    "route",
    "episodeStart",
)
TEMPLATE_PATTERN: Final = re.compile(r"\{\{\s*([^{}\s]*)\s*\}\}")
_MENTION = re.compile(r"^(here|channel|everyone|[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,})$")
_CHANNEL = re.compile(r"^(#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,})$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class QuietHours(KubeModel):
    """Alerts that fall in ``[start, end)`` (local time) are held until ``end``, not dropped."""

    start: str
    end: str
    time_zone: str = "UTC"


class SlackDestination(KubeModel):
    channel: str
    # The name of a token file in DOCKYARD_SLACK_SECRETS_DIR; default: DOCKYARD_SLACK_TOKEN.
    token_secret: str | None = None


class WebhookDestination(KubeModel):
    url: str


class Destination(KubeModel):
    slack: SlackDestination | None = None
    webhook: WebhookDestination | None = None


class AlertRouteSpec(KubeModel):
    namespaces: list[str] = Field(default_factory=list)  # empty: every namespace
    label_selector: LabelSelector | None = None  # unset: every pod
    owner_kinds: list[str] = Field(default_factory=list)  # empty: any owner, or none
    reasons: list[str] = Field(default_factory=list)  # empty: every reason
    min_restart_count: int = 0
    quiet_hours: QuietHours | None = None
    destination: Destination
    mentions: list[str] = Field(default_factory=list)
    template: str | None = None
    resolve_after_seconds: int | None = None
    redact_patterns: list[str] = Field(default_factory=list)


class AlertRoute(KubeObject):
    api_version: str = API_VERSION
    kind: str = KIND
    spec: AlertRouteSpec


def template_errors(template: str, path: str) -> list[FieldError]:
    """Unknown ``{{variables}}`` in a template, each named (shared with the notify hook)."""
    errors: list[FieldError] = []
    for name in TEMPLATE_PATTERN.findall(template):
        if name not in TEMPLATE_VARIABLES:
            errors.append(
                invalid(
                    path,
                    template,
                    f"unknown template variable {{{{{name}}}}}; known variables: "
                    + ", ".join(TEMPLATE_VARIABLES),
                )
            )
    return errors


def webhook_url_errors(url: str, path: str) -> list[FieldError]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            invalid(
                path,
                url,
                "must be an http(s) URL with a host, like Slack's incoming "
                "webhook https://hooks.slack.com/services/...",
            )
        ]
    return []


def _quiet_hours_errors(quiet: QuietHours, path: str) -> list[FieldError]:
    errors = [
        invalid(child(path, name), value, "must be a 24-hour clock time HH:MM")
        for name, value in (("start", quiet.start), ("end", quiet.end))
        if not _CLOCK.match(value)
    ]
    try:
        ZoneInfo(quiet.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(invalid(child(path, "timeZone"), quiet.time_zone, "unknown IANA time zone"))
    if not errors and quiet.start == quiet.end:
        errors.append(invalid(child(path, "end"), quiet.end, "must differ from start"))
    return errors


def _destination_errors(destination: Destination, path: str) -> list[FieldError]:
    chosen = [d for d in (destination.slack, destination.webhook) if d is not None]
    if not chosen:
        return [required(path, "one of slack or webhook is required")]
    if len(chosen) > 1:
        return [forbidden(path, "may not specify more than one destination")]
    errors: list[FieldError] = []
    if destination.slack is not None:
        channel = destination.slack.channel
        if not _CHANNEL.match(channel):
            errors.append(
                invalid(
                    child(path, "slack", "channel"),
                    channel,
                    "must be a channel name (#alerts) or a channel id (C0123ABCD)",
                )
            )
        secret = destination.slack.token_secret
        if secret is not None:
            errors.extend(
                invalid(child(path, "slack", "tokenSecret"), secret, message)
                for message in names.dns1123_subdomain_errors(secret)
            )
    if destination.webhook is not None:
        errors.extend(webhook_url_errors(destination.webhook.url, child(path, "webhook", "url")))
    return errors


def _never_matches(spec: AlertRouteSpec) -> str | None:
    """Why a route can never match anything, if it cannot."""
    if spec.reasons and set(spec.reasons) <= NODE_REASONS:
        if spec.label_selector is not None and to_dict(spec.label_selector):
            return "labelSelector selects pods, but reasons only name node reasons"
        if spec.owner_kinds:
            return "ownerKinds selects pods, but reasons only name node reasons"
        if spec.min_restart_count > 0:
            return "minRestartCount counts container restarts, but reasons only name nodes"
    return None


def validate_alert_route(route: AlertRoute) -> list[FieldError]:
    spec, path = route.spec, "spec"
    errors: list[FieldError] = []
    for index, namespace in enumerate(spec.namespaces):
        errors.extend(
            invalid(child(path, "namespaces", index), namespace, message)
            for message in names.dns1123_label_errors(namespace)
        )
    if spec.label_selector is not None:
        try:
            from_label_selector(to_dict(spec.label_selector))
        except SelectorError as exc:
            errors.append(
                invalid(child(path, "labelSelector"), to_dict(spec.label_selector), str(exc))
            )
    from dockyard.model.kinds import all_kinds  # late: kinds registered after this module

    known_kinds = sorted({info.kind for info in all_kinds()} - {KIND})
    for index, owner_kind in enumerate(spec.owner_kinds):
        if owner_kind not in known_kinds:
            errors.append(not_supported(child(path, "ownerKinds", index), owner_kind, known_kinds))
    seen: set[str] = set()
    for index, reason in enumerate(spec.reasons):
        if reason not in REASONS:
            errors.append(not_supported(child(path, "reasons", index), reason, REASONS))
        elif reason in seen:
            errors.append(duplicate(child(path, "reasons", index), reason))
        seen.add(reason)
    if spec.min_restart_count < 0:
        errors.append(
            invalid(
                child(path, "minRestartCount"),
                spec.min_restart_count,
                "must be greater than or equal to 0",
            )
        )
    if spec.quiet_hours is not None:
        errors.extend(_quiet_hours_errors(spec.quiet_hours, child(path, "quietHours")))
    errors.extend(_destination_errors(spec.destination, child(path, "destination")))
    for index, mention in enumerate(spec.mentions):
        if not _MENTION.match(mention):
            errors.append(
                invalid(
                    child(path, "mentions", index),
                    mention,
                    "must be here, channel, everyone, a user id (U0123ABCD) or a user group "
                    "id (S0123ABCD)",
                )
            )
    if spec.template is not None:
        errors.extend(template_errors(spec.template, child(path, "template")))
    if spec.resolve_after_seconds is not None and spec.resolve_after_seconds < 1:
        errors.append(
            invalid(
                child(path, "resolveAfterSeconds"), spec.resolve_after_seconds, "must be at least 1"
            )
        )
    for index, pattern in enumerate(spec.redact_patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append(
                invalid(
                    child(path, "redactPatterns", index),
                    pattern,
                    f"not a regular expression: {exc}",
                )
            )
    if not errors:
        why = _never_matches(spec)
        if why is not None:
            errors.append(invalid(path, "", f"this route can never match anything: {why}"))
    return errors


def parse_quiet_clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


register(
    KindInfo(
        "dockyard.io",
        "v1",
        KIND,
        "alertroutes",
        "alertroute",
        AlertRoute,
        False,
        ("ar",),
    )
)
register_validator(AlertRoute, validate_alert_route)
