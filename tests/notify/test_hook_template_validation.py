"""A postStart/preStop notify hook's template is checked when the Pod is applied."""

from __future__ import annotations

import pytest

from dockyard.model.validation import InvalidObject, parse_object


def pod_with_template(template: str) -> dict[str, object]:
    hook = {"notify": {"route": "team-alerts", "template": template}}
    container = {"name": "app", "image": "busybox:latest", "lifecycle": {"postStart": hook}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [container]}}  # fmt: skip


def test_known_variables_are_accepted() -> None:
    parse_object(pod_with_template("{{pod}} restarted {{restartCount}} times on {{node}}"))


def test_an_unknown_variable_is_rejected_and_named() -> None:
    with pytest.raises(InvalidObject) as caught:
        parse_object(pod_with_template("{{pod}} {{bogus}}"))
    message = str(caught.value)
    assert "spec.containers[0].lifecycle.postStart.notify.template" in message
    assert "unknown template variable {{bogus}}" in message
