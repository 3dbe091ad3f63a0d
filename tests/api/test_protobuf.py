"""kubectl 1.32's typed commands send protobuf bodies; they must work end to end."""

from __future__ import annotations

from tests.api.conftest import ApiServer
from tests.unit.test_protobuf import container, deployment, envelope, ld, object_meta

PROTOBUF = "application/vnd.kubernetes.protobuf"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def test_kubectl_create_namespace(api: ApiServer) -> None:
    api.kubectl("create", "namespace", "team-x")
    namespace = api.kubectl_json("get", "namespace", "team-x")
    assert namespace["status"]["phase"] == "Active"
    assert namespace["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-x"


def test_kubectl_create_deployment_with_replicas(api: ApiServer) -> None:
    api.kubectl("create", "deployment", "web", "--image=busybox:latest", "--replicas=2")
    spec = api.kubectl_json("get", "deploy", "web")["spec"]
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "web"}
    [busybox] = spec["template"]["spec"]["containers"]
    assert (busybox["name"], busybox["image"]) == ("busybox", "busybox:latest")
    assert spec["strategy"]["type"] == "RollingUpdate"


def test_kubectl_create_deployment_with_port_and_command(api: ApiServer) -> None:
    api.kubectl(
        "create", "deployment", "sleeper", "--image=busybox:latest", "--port=8080", "--",
        "sleep", "3600",
    )  # fmt: skip
    [c] = api.kubectl_json("get", "deploy", "sleeper")["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["sleep", "3600"]
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]


def test_kubectl_create_services_of_each_type(api: ApiServer) -> None:
    api.kubectl("create", "service", "clusterip", "s", "--tcp=80:8080")
    spec = api.kubectl_json("get", "service", "s")["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["selector"] == {"app": "s"}
    assert spec["ports"] == [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    api.kubectl("create", "service", "nodeport", "np", "--tcp=81:81")
    assert api.kubectl_json("get", "service", "np")["spec"]["type"] == "NodePort"
    api.kubectl("create", "service", "externalname", "en", "--external-name=example.com")
    external = api.kubectl_json("get", "service", "en")["spec"]
    assert (external["type"], external["externalName"]) == ("ExternalName", "example.com")


def test_kubectl_create_that_fails_validation_reports_the_field(api: ApiServer) -> None:
    result = api.kubectl("create", "deployment", "Bad_Name", "--image=busybox", check=False)
    assert result.returncode != 0
    assert "Bad_Name" in result.stderr and "Invalid" in result.stderr


def test_protobuf_body_with_unknown_field_is_400_and_nothing_written(api: ApiServer) -> None:
    body = envelope("apps/v1", "Deployment", deployment(1, container("c", "i", ld(99, "x"))))
    with api.client() as client:
        response = client.post(DEPLOYMENTS, content=body, headers={"Content-Type": PROTOBUF})
        assert response.status_code == 400
        status = response.json()
        assert (status["kind"], status["reason"]) == ("Status", "BadRequest")
        assert "Container field 99" in status["message"]
        assert client.get(DEPLOYMENTS).json()["items"] == []


def test_malformed_protobuf_is_400_and_unknown_kind_415(api: ApiServer) -> None:
    with api.client() as client:
        garbage = client.post(
            DEPLOYMENTS, content=b"k8s\x00\x0a\x09", headers={"Content-Type": PROTOBUF}
        )
        assert (garbage.status_code, garbage.json()["reason"]) == (400, "BadRequest")
        config_map = envelope("v1", "ConfigMap", ld(1, object_meta("c")))
        other = client.post(DEPLOYMENTS, content=config_map, headers={"Content-Type": PROTOBUF})
        assert (other.status_code, other.json()["reason"]) == (415, "UnsupportedMediaType")


def test_protobuf_kind_must_match_the_path(api: ApiServer) -> None:
    body = envelope("apps/v1", "Deployment", deployment(1, container("c", "busybox:latest")))
    with api.client() as client:
        response = client.post(
            "/api/v1/namespaces/default/pods", content=body, headers={"Content-Type": PROTOBUF}
        )
        assert response.status_code == 400
        assert "does not match" in response.json()["message"]


def test_protobuf_update_goes_through_put(api: ApiServer) -> None:
    api.kubectl("create", "deployment", "web", "--image=busybox:latest")
    current = api.kubectl_json("get", "deploy", "web")
    rv = current["metadata"]["resourceVersion"]
    meta = object_meta("web", app="web") + ld(6, rv)  # ObjectMeta.resourceVersion
    raw = deployment(4, container("busybox", "busybox:latest"), meta=meta)
    body = envelope("apps/v1", "Deployment", raw)
    with api.client() as client:
        response = client.put(
            f"{DEPLOYMENTS}/web", content=body, headers={"Content-Type": PROTOBUF}
        )
        assert response.status_code == 200, response.text
        stale = client.put(f"{DEPLOYMENTS}/web", content=body, headers={"Content-Type": PROTOBUF})
        assert (stale.status_code, stale.json()["reason"]) == (409, "Conflict")
    assert api.kubectl_json("get", "deploy", "web")["spec"]["replicas"] == 4


def test_accept_negotiation_answers_json_or_406(api: ApiServer) -> None:
    api.kubectl("create", "namespace", "team-y")
    with api.client() as client:
        for accept in (f"{PROTOBUF}, */*", f"{PROTOBUF},application/json"):
            response = client.get("/api/v1/namespaces/team-y", headers={"Accept": accept})
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/json")
            assert response.json()["metadata"]["name"] == "team-y"
        refused = client.get("/api/v1/namespaces/team-y", headers={"Accept": PROTOBUF})
        assert (refused.status_code, refused.json()["reason"]) == (406, "NotAcceptable")
