"""Does a fact match a route, which episode does it belong to, what does it change. Pure.

An episode is one crash episode of one owner (a Deployment, DaemonSet, ... or a bare pod)
under one route: its first fact becomes the Slack root message, every later *restart* a thread
reply, and every fact (a restart, or a CrashLoopBackOff for a restart already told) updates the
root in place. A hundred pods of one Deployment failing together are one episode.

A correction (a restart told with one death reason, later known to be another: facts.py) is
told once in the episode that told the restart: a thread reply saying so, and the root updated
(its reasons and, if that restart is the newest, its exit). A route that did not match the
restart as first told but matches the correction hears it as a new restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dockyard.model.meta import to_dict
from dockyard.model.selectors import from_label_selector
from dockyard.notify.facts import TERMINATED_REASONS, AlertFact
from dockyard.notify.routes import AlertRoute, QuietHours, parse_quiet_clock

# How many fact identities an episode remembers (to recognise a fact it already told).
SEEN_LIMIT = 500
ROOT, UPDATE, REPLY, CORRECTION = "root", "update", "reply", "correction"


def route_matches(route: AlertRoute, fact: AlertFact) -> bool:
    spec = route.spec
    if spec.reasons and not fact.reasons & set(spec.reasons):
        return False
    if fact.is_node:
        # Node facts have no namespace, labels of a pod, owner or restart count.
        return not spec.namespaces and not spec.owner_kinds and spec.label_selector is None
    if spec.namespaces and fact.namespace not in spec.namespaces:
        return False
    if spec.label_selector is not None:
        if not from_label_selector(to_dict(spec.label_selector)).matches(fact.labels):
            return False
    if spec.owner_kinds:
        if fact.owner is None or fact.owner.kind not in spec.owner_kinds:
            return False
    only_waiting = fact.reasons <= {"ImagePullBackOff"}
    return only_waiting or fact.restart_count >= spec.min_restart_count


def group_key(fact: AlertFact) -> str:
    """The episode a fact belongs to: per owner, or per pod without one, or per node."""
    if fact.is_node:
        return f"Node/{fact.node}"
    if fact.owner is not None:
        return f"{fact.namespace}/{fact.owner.kind}/{fact.owner.name}"
    return f"{fact.namespace}/Pod/{fact.pod}"


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """When the quiet hours that contain ``now`` end, or None if ``now`` is not quiet."""
    if quiet is None:
        return None
    zone = ZoneInfo(quiet.time_zone)
    local = now.astimezone(zone)
    start, end = parse_quiet_clock(quiet.start), parse_quiet_clock(quiet.end)
    clock = local.time().replace(second=0, microsecond=0, tzinfo=None)
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    end_today = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_today <= local:
        end_today += timedelta(days=1)
    return end_today


def fact_record(fact: AlertFact) -> dict[str, Any]:
    """The part of a fact an episode keeps (JSON)."""
    return {
        "namespace": fact.namespace,
        "pod": fact.pod,
        "podUID": fact.pod_uid,
        "container": fact.container,
        "node": fact.node,
        "restartCount": fact.restart_count,
        "exitCode": fact.exit_code,
        "terminatedReason": fact.terminated_reason,
        "reasons": sorted(fact.reasons),
        "message": fact.message,
        "at": fact.observed_at.isoformat(),
        "position": fact.position,
        "logTail": list(fact.log_tail),
    }


@dataclass(frozen=True)
class EpisodeStep:
    summary: dict[str, Any]
    actions: tuple[str, ...]  # ROOT, REPLY, UPDATE in the order the rows are written


def new_summary(fact: AlertFact) -> dict[str, Any]:
    owner = fact.owner
    return {
        "namespace": fact.namespace,
        "ownerKind": owner.kind if owner else ("Node" if fact.is_node else "Pod"),
        "ownerName": owner.name if owner else (fact.node if fact.is_node else fact.pod),
        "firstAt": fact.observed_at.isoformat(),
        "restarts": 0,
        "pods": {},
        "reasons": [],
        "seen": [],
        "first": fact_record(fact),
        "last": fact_record(fact),
        "ownerChange": None,
        "resolved": False,
        "deaths": {},  # identity -> the death reasons told for it (to take one back)
    }


def told(summary: dict[str, Any] | None, fact: AlertFact) -> bool:
    """Whether an episode has told the restart ``fact`` is about."""
    return summary is not None and fact.identity in summary["seen"]


def _death_reasons(fact: AlertFact) -> set[str]:
    return set(fact.reasons & TERMINATED_REASONS)


def step(summary: dict[str, Any] | None, fact: AlertFact) -> EpisodeStep:
    """Fold a fact into an episode (None: it opens one) and say which messages it makes."""
    opening = summary is None
    current = new_summary(fact) if summary is None else dict(summary)
    seen: list[str] = list(current["seen"])
    reasons = set(current["reasons"])
    known = fact.identity in seen
    if known and fact.corrects is not None:
        return _correct(current, fact)
    if known and fact.reasons <= reasons:
        return EpisodeStep(current, ())
    current["reasons"] = sorted(reasons | fact.reasons)
    current["last"] = fact_record(fact)
    if "deaths" in current and _death_reasons(fact):
        deaths = dict(current["deaths"])
        deaths[fact.identity] = sorted(set(deaths.get(fact.identity, ())) | _death_reasons(fact))
        current["deaths"] = deaths
    if not known:
        seen.append(fact.identity)
        current["seen"] = seen[-SEEN_LIMIT:]
        if "deaths" in current:
            kept = set(current["seen"])
            current["deaths"] = {k: v for k, v in current["deaths"].items() if k in kept}
        if "Restarted" in fact.reasons:
            current["restarts"] = int(current["restarts"]) + 1
        pods = dict(current["pods"])
        if fact.pod:
            pods[fact.pod] = max(int(pods.get(fact.pod, 0)), fact.restart_count)
        current["pods"] = pods
    if opening:
        return EpisodeStep(current, (ROOT,))
    if known:
        return EpisodeStep(current, (UPDATE,))
    return EpisodeStep(current, (REPLY, UPDATE))


def _correct(summary: dict[str, Any], fact: AlertFact) -> EpisodeStep:
    """A restart the episode told, its death reason now known better: a reply and an update.

    The reason taken back leaves the episode's reasons unless another restart died of it too
    (known from ``deaths``; an episode from before it was kept keeps the reason)."""
    assert fact.corrects is not None
    new = _death_reasons(fact)
    deaths = summary.get("deaths")
    if deaths is not None and new <= set(deaths.get(fact.identity, ())):
        return EpisodeStep(summary, ())  # this correction was told already
    current = dict(summary)
    reasons = set(current["reasons"]) | fact.reasons
    if deaths is not None:
        deaths = dict(deaths)
        was = set(deaths.get(fact.identity, ())) - {fact.corrects}
        deaths[fact.identity] = sorted(was | new)
        current["deaths"] = deaths
        if not any(fact.corrects in reasons_of for reasons_of in deaths.values()):
            reasons.discard(fact.corrects)
    current["reasons"] = sorted(reasons)
    for end in ("first", "last"):
        if _same_restart(current[end], fact):
            current[end] = _corrected_record(current[end], fact)
    return EpisodeStep(current, (CORRECTION, UPDATE))


def _same_restart(record: dict[str, Any], fact: AlertFact) -> bool:
    pod_matches = (
        record.get("podUID") == fact.pod_uid if "podUID" in record else record["pod"] == fact.pod
    )
    return (
        pod_matches
        and record["container"] == fact.container
        and record["restartCount"] == fact.restart_count
    )


def _corrected_record(record: dict[str, Any], fact: AlertFact) -> dict[str, Any]:
    """A told record with the corrected death (its log tail and first time kept)."""
    assert fact.corrects is not None
    return {
        **record,
        "exitCode": fact.exit_code,
        "terminatedReason": fact.terminated_reason,
        "reasons": sorted((set(record["reasons"]) - {fact.corrects}) | fact.reasons),
        "message": fact.message or record.get("message"),
        "corrects": fact.corrects,
    }


def resolved(summary: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {**summary, "resolved": True, "resolvedAt": at.isoformat()}
