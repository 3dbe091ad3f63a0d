"""Slack messages for an episode: the root, thread replies, resolution, hook and test posts.

Pure functions from episode summaries (see matching.py) to ``{"text": ..., "blocks": [...]}``.
Every message stays well inside Slack's limits (section text 3000, header 150, 10 fields,
50 blocks, and about 13.2k characters of blocks in total, which fails undocumented), and always
carries ``text`` beside ``blocks`` (notification text and the fallback for clients).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dockyard.agent.pod_print import human_duration
from dockyard.notify.routes import TEMPLATE_PATTERN

Message = dict[str, Any]

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_BLOCKS = 50
# Keep far from the undocumented ~13.2k total (bolt-js#2509).
BLOCKS_BUDGET = 11_000
TEXT_LIMIT = 3_000
LOG_LINES = 20
# Secrets that must never reach Slack even if a route forgets to say so.
DEFAULT_REDACTIONS = (
    r"xox[abposr]-[A-Za-z0-9-]+",
    r"(?i)(password|passwd|secret|token|api[_-]?key)\s*[=:]\s*\S+",
    r"(?i)bearer\s+[A-Za-z0-9._~+/-]+=*",
)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact(text: str, patterns: Sequence[str]) -> str:
    for pattern in (*DEFAULT_REDACTIONS, *patterns):
        text = re.sub(pattern, "[REDACTED]", text)
    return text


def fill_template(template: str, variables: Mapping[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return "" if value is None else str(value)

    return TEMPLATE_PATTERN.sub(substitute, template)


def _mention(mention: str) -> str:
    if mention in ("here", "channel", "everyone"):
        return f"<!{mention}>"
    if mention.startswith("S"):
        return f"<!subteam^{mention}>"
    return f"<@{mention}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}}


def _fields(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    fields = [
        {"type": "mrkdwn", "text": truncate(f"*{label}*\n{value}", FIELD_LIMIT)}
        for label, value in pairs
        if value not in (None, "")
    ][:MAX_FIELDS]
    return {"type": "section", "fields": fields}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 3000)}]}


def _exit(record: Mapping[str, Any]) -> str:
    code, reason = record.get("exitCode"), record.get("terminatedReason")
    if code is None and not reason:
        return ""
    return " ".join(
        part for part in (f"exit {code}" if code is not None else "", reason or "") if part
    )


def _slack_date(iso: str) -> str:
    """A date each reader sees in their own time zone, with the ISO text as fallback."""
    epoch = int(datetime.fromisoformat(iso).timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time_secs}}|{iso}>"


def _ago(start: str, at: datetime) -> str:
    seconds = (at - datetime.fromisoformat(start)).total_seconds()
    return human_duration(max(0.0, seconds))


def template_variables(summary: Mapping[str, Any], route: str) -> dict[str, Any]:
    last = summary["last"]
    return {
        "namespace": last.get("namespace"),
        "pod": last.get("pod"),
        "container": last.get("container"),
        "node": last.get("node"),
        "owner": summary.get("ownerName"),
        "ownerKind": summary.get("ownerKind"),
        "restartCount": last.get("restartCount"),
        "exitCode": last.get("exitCode"),
        "reason": last.get("terminatedReason") or ", ".join(last.get("reasons") or []),
        "reasons": ", ".join(summary.get("reasons") or []),
        "message": last.get("message"),
        "hook": last.get("hook"),
        "route": route,
        "episodeStart": summary.get("firstAt"),
    }


def _log_block(lines: Sequence[str], patterns: Sequence[str]) -> dict[str, Any] | None:
    if not lines:
        return None
    tail = [redact(line, patterns) for line in lines[-LOG_LINES:]]
    body = "\n".join(tail).replace("```", "'''")
    # Keep the end of the log (where the crash is), not its beginning.
    budget = SECTION_LIMIT - 40
    if len(body) > budget:
        body = "…" + body[-(budget - 1) :]
    return _section(f"*Last log lines*\n```{body}```")


def _owner_change(change: Mapping[str, Any] | None, first_at: str) -> str | None:
    if not change:
        return None
    when = datetime.fromisoformat(change["at"])
    before = _ago(change["at"], datetime.fromisoformat(first_at)) if when else ""
    what = "; ".join(change.get("changes") or []) or change.get("verb", "changed")
    return truncate(
        f"*Last change to the {change.get('kind', 'owner')}* {before} before the first crash: "
        f"{change.get('actor', 'someone')} ({change.get('verb', 'update')}) — {what}",
        SECTION_LIMIT,
    )


def render_root(
    summary: Mapping[str, Any],
    *,
    route: str,
    template: str | None = None,
    mentions: Sequence[str] = (),
    redact_patterns: Sequence[str] = (),
) -> Message:
    last, first = summary["last"], summary["first"]
    owner = f"{summary['ownerKind']}/{summary['ownerName']}"
    where = f"{summary['namespace']}/" if summary.get("namespace") else ""
    resolved = bool(summary.get("resolved"))
    state = "Resolved" if resolved else ", ".join(summary.get("reasons") or ["Failing"])
    icon = ":white_check_mark:" if resolved else ":rotating_light:"
    title = f"{icon} {state}: {where}{owner}"
    if template:
        title = fill_template(template, template_variables(summary, route))
    pods = summary.get("pods") or {}
    text = truncate(title, TEXT_LIMIT)
    if mentions and not resolved:
        text = truncate(" ".join(_mention(m) for m in mentions) + " " + text, TEXT_LIMIT)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(
                    f"{'Resolved' if resolved else state}: {where}{owner}", HEADER_LIMIT
                ),
            },
        },
    ]
    if template or mentions:
        blocks.append(_section(text))
    blocks.append(
        _fields(
            [
                ("Namespace", summary.get("namespace")),
                ("Owner", owner),
                (
                    "Pod",
                    last.get("pod") + (f" (+{len(pods) - 1} more)" if len(pods) > 1 else "")
                    if last.get("pod")
                    else None,
                ),
                ("Container", last.get("container")),
                ("Node", last.get("node")),
                (
                    "Restarts",
                    f"{summary.get('restarts', 0)} in this episode; "
                    f"restartCount {last.get('restartCount')}"
                    if last.get("pod")
                    else None,
                ),
                ("Exit", _exit(last) or None),
                ("Reasons", ", ".join(summary.get("reasons") or [])),
                (
                    "Episode began",
                    _slack_date(summary["firstAt"]),
                ),
                (
                    "State",
                    "resolved at " + str(summary.get("resolvedAt")) if resolved else "failing",
                ),
            ]
        )
    )
    if last.get("message"):
        blocks.append(_section(f"*Message*\n{redact(str(last['message']), redact_patterns)}"))
    change = _owner_change(summary.get("ownerChange"), summary["firstAt"])
    if change:
        blocks.append(_section(change))
    log = _log_block(first.get("logTail") or [], redact_patterns)
    if log:
        blocks.append(log)
    blocks.append(_context(f"Dockyard route {route}"))
    return fit({"text": text, "blocks": blocks})


def render_reply(record: Mapping[str, Any], *, redact_patterns: Sequence[str] = ()) -> Message:
    where = f"{record['pod']}/{record['container']}" if record.get("pod") else record.get("node")
    exit_text = _exit(record)
    text = (
        f"{', '.join(record.get('reasons') or [])}: {where} restartCount "
        f"{record.get('restartCount')}" + (f" ({exit_text})" if exit_text else "")
    )
    if record.get("node") and record.get("pod"):
        text += f" on {record['node']}"
    blocks: list[dict[str, Any]] = [_section(text)]
    if record.get("message"):
        blocks.append(_context(redact(str(record["message"]), redact_patterns)))
    log = _log_block(record.get("logTail") or [], redact_patterns)
    if log:
        blocks.append(log)
    return fit({"text": truncate(text, TEXT_LIMIT), "blocks": blocks})


def render_correction(record: Mapping[str, Any]) -> Message:
    """A thread reply taking back the death reason a restart was first told with."""
    where = f"{record['pod']}/{record['container']}"
    exit_code = record.get("exitCode")
    reason = record.get("terminatedReason") or ", ".join(record.get("reasons") or [])
    exit_text = f" (exit {exit_code})" if exit_code is not None else ""
    text = (
        f":information_source: Correction: {where} restartCount {record.get('restartCount')} "
        f"was {reason}{exit_text}, not {record.get('corrects')} as first reported"
    )
    if record.get("node"):
        text += f" (node {record['node']})"
    return {"text": truncate(text, TEXT_LIMIT), "blocks": [_section(text)]}


def render_resolved_reply(summary: Mapping[str, Any], stable_seconds: int) -> Message:
    text = (
        f":white_check_mark: Resolved: no failures for {human_duration(stable_seconds)} "
        f"({summary.get('restarts', 0)} restarts in this episode)"
    )
    return {"text": text, "blocks": [_section(text)]}


def render_hook(template: str | None, variables: Mapping[str, Any]) -> Message:
    default = (
        "{{hook}}: {{namespace}}/{{pod}} container {{container}} on {{node}} "
        "(restartCount {{restartCount}}, previous exit {{exitCode}} {{reason}})"
    )
    text = truncate(fill_template(template or default, variables), SECTION_LIMIT)
    return {"text": text, "blocks": [_section(text)]}


def render_test(route: str) -> Message:
    text = f":wave: Test message from Dockyard alert route {route}: delivery works."
    return {"text": text, "blocks": [_section(text)]}


def merge_replies(bodies: Sequence[Message]) -> Message:
    """Several thread replies as one message (a burst of restarts, one post)."""
    if len(bodies) == 1:
        return bodies[0]
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    for body in bodies:
        texts.append(str(body.get("text", "")))
        blocks.extend(body.get("blocks") or [])
    if len(blocks) > MAX_BLOCKS or _size(blocks) > BLOCKS_BUDGET:
        # Too much for one message: one line per reply, logs left out.
        blocks = [_section(truncate("\n".join(texts), SECTION_LIMIT))]
    return fit({"text": truncate("\n".join(texts), TEXT_LIMIT), "blocks": blocks})


def _size(blocks: Sequence[Any]) -> int:
    return len(json.dumps(blocks, ensure_ascii=False))


def fit(message: Message) -> Message:
    """Drop optional blocks (logs first) until the message is inside the budget."""
    blocks = list(message.get("blocks") or [])[:MAX_BLOCKS]
    while blocks and _size(blocks) > BLOCKS_BUDGET:
        logs = [i for i, b in enumerate(blocks) if "Last log lines" in json.dumps(b)]
        blocks.pop(logs[-1] if logs else len(blocks) - 1)
    return {**message, "blocks": blocks}


def text_only(message: Message) -> Message:
    """The smallest form of a message: Slack said it was too long or its blocks invalid."""
    return {"text": truncate(str(message.get("text", "")), TEXT_LIMIT), "blocks": []}
