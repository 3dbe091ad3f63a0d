"""The OpenAPI documents: kubectl explain and apply against them, and their content per kind."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.conftest import ApiServer

SCHEMAS = "#/components/schemas/"
GOOD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{containerPort: 80}]
        securityContext: {capabilities: {add: [NET_ADMIN]}}
"""


def _documents(client: httpx.Client) -> dict[str, Any]:
    index = client.get("/openapi/v3").json()
    return {
        path: client.get(entry["serverRelativeURL"]).json()
        for path, entry in index["paths"].items()
    }


def _served_kinds(client: httpx.Client) -> list[tuple[str, str, str, str, bool]]:
    """(document path, group, version, kind, writable) for every resource discovery lists."""
    lists = [("api/v1", "", "v1")]
    for group in client.get("/apis").json()["groups"]:
        for version in group["versions"]:
            lists.append((f"apis/{version['groupVersion']}", group["name"], version["version"]))
    kinds = []
    for path, group, version in lists:
        for resource in client.get(f"/{path}").json()["resources"]:
            if "/" not in resource["name"]:
                writable = "patch" in resource["verbs"]
                kinds.append((path, group, version, resource["kind"], writable))
    return kinds


def test_explain_pod_prints_our_descriptions(api: ApiServer) -> None:
    out = api.kubectl("explain", "pod").stdout
    assert "KIND:       Pod" in out and "VERSION:    v1" in out
    assert "Pod is a collection of containers that run together on a node." in out
    assert "spec\t<PodSpec>" in out
    assert "Specification of the desired behavior of the pod." in out


def test_explain_pod_spec_containers(api: ApiServer) -> None:
    out = api.kubectl("explain", "pod.spec.containers").stdout
    assert "FIELD: containers <[]Container>" in out
    assert "name\t<string> -required-" in out
    assert "Container image name, e.g. busybox:latest." in out
    assert "imagePullPolicy\t<string>" in out and "enum: Always, IfNotPresent, Never" in out
    assert "env\t<[]EnvVar>" in out and "ports\t<[]ContainerPort>" in out
    probe = api.kubectl("explain", "pod.spec.containers.livenessProbe.httpGet.port").stdout
    assert "FIELD: port <IntOrString>" in probe


def test_explain_deployment_strategy(api: ApiServer) -> None:
    out = api.kubectl("explain", "deployment.spec.strategy").stdout
    assert "GROUP:      apps" in out and "KIND:       Deployment" in out
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "rollingUpdate\t<RollingUpdateDeployment>" in out
    assert "Type of deployment: Recreate or RollingUpdate." in out


def test_explain_recursive(api: ApiServer) -> None:
    out = api.kubectl("explain", "deployment", "--recursive").stdout
    for line in (
        "  spec\t<DeploymentSpec>",
        "    strategy\t<DeploymentStrategy>",
        "        maxSurge\t<IntOrString>",
        "          containers\t<[]Container>",
    ):
        assert line.strip() in out, line
    assert "maxSurge" in out and "containerPort" in out and "readinessProbe" in out


def test_explain_dockyard_kind(api: ApiServer) -> None:
    out = api.kubectl("explain", "alertroute").stdout
    assert "GROUP:      dockyard.io" in out and "KIND:       AlertRoute" in out
    assert "AlertRoute sends alerts about pod and node failures" in out
    spec = api.kubectl("explain", "alertroute.spec").stdout
    assert "destination\t<Destination> -required-" in spec
    assert "Failure reasons to alert on" in spec
    quiet = api.kubectl("explain", "ar.spec.quietHours.timeZone").stdout
    assert "IANA time zone of start and end." in quiet


def test_apply_rejects_a_typo_naming_the_field(api: ApiServer) -> None:
    manifest = GOOD_DEPLOYMENT.replace("imagePullPolicy:", "imagePulPolicy:")
    result = api.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert result.returncode != 0
    assert "imagePulPolicy" in result.stderr
    assert api.kubectl("get", "deployments", "-o", "name").stdout == ""
    route = "apiVersion: dockyard.io/v1\nkind: AlertRoute\nmetadata: {name: r}\nspec:\n"
    route += "  destinaton: {webhook: {url: 'https://example.invalid/x'}}\n"
    result = api.kubectl("apply", "--validate=true", "-f", "-", stdin=route, check=False)
    assert result.returncode != 0 and "destinaton" in result.stderr


def test_apply_validates_and_patches_by_key_without_warnings(api: ApiServer) -> None:
    created = api.kubectl("apply", "--validate=true", "-f", "-", stdin=GOOD_DEPLOYMENT)
    assert "deployment.apps/web created" in created.stdout
    changed = GOOD_DEPLOYMENT.replace('{name: B, value: "2"}', '{name: C, value: "3"}')
    changed = changed.replace("NET_ADMIN", "SYS_TIME")
    result = api.kubectl("apply", "--validate=true", "-f", "-", "-v=8", stdin=changed)
    assert "deployment.apps/web configured" in result.stdout
    assert "Content-Type: application/strategic-merge-patch+json" in result.stderr
    assert "fieldValidation=Strict" in result.stderr
    # kubectl's own warnings start a line; its -v=8 log lines start with the klog header.
    assert not any(line.startswith("warning:") for line in result.stderr.splitlines())
    container = api.kubectl_json("get", "deployment", "web")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["securityContext"] == {"capabilities": {"add": ["SYS_TIME"]}}


def test_every_served_kind_has_schemas_and_paths(api: ApiServer) -> None:
    with api.client() as client:
        documents = _documents(client)
        kinds = _served_kinds(client)
    assert {"api/v1", "apis/apps/v1", "apis/dockyard.io/v1"} <= set(documents)
    for path, group, version, kind, writable in kinds:
        document = documents[path]
        schemas = document["components"]["schemas"]
        gvk = {"group": group, "version": version, "kind": kind}
        named = [
            n for n, s in schemas.items() if gvk in s.get("x-kubernetes-group-version-kind", [])
        ]
        assert len(named) == 1, (path, kind)
        schema = schemas[named[0]]
        assert schema["description"] and schema["properties"]["metadata"]["description"]
        list_gvk = {**gvk, "kind": f"{kind}List"}
        assert any(
            list_gvk in s.get("x-kubernetes-group-version-kind", []) for s in schemas.values()
        )
        operations = [
            (method, op)
            for item in document["paths"].values()
            for method, op in item.items()
            if method != "parameters" and op["x-kubernetes-group-version-kind"] == gvk
        ]
        assert {"get"} <= {m for m, _ in operations}, kind
        if writable:
            patches = [op for m, op in operations if m == "patch"]
            assert patches and all(
                "fieldValidation" in {p["name"] for p in op["parameters"]} for op in patches
            )
        for ref in _refs(document):
            assert ref.removeprefix(SCHEMAS) in schemas, (path, ref)


def test_every_field_has_type_and_description(api: ApiServer) -> None:
    with api.client() as client:
        documents = _documents(client)
    for document in documents.values():
        for name, schema in document["components"]["schemas"].items():
            assert schema.get("description"), name
            for field, prop in schema.get("properties", {}).items():
                assert prop.get("description"), f"{name}.{field}"
                assert {"type", "allOf", "x-kubernetes-preserve-unknown-fields"} & set(prop), field


def test_lists_merged_by_key_carry_patch_metadata(api: ApiServer) -> None:
    with api.client() as client:
        schemas = _documents(client)["api/v1"]["components"]["schemas"]
    spec = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]
    container = schemas["io.k8s.api.core.v1.Container"]["properties"]
    assert schemas["io.k8s.api.core.v1.Container"]["required"] == ["name", "image"]
    for prop, key in (
        (spec["containers"], "name"),
        (container["env"], "name"),
        (spec["volumes"], "name"),
        (container["ports"], "containerPort"),
    ):
        assert prop["x-kubernetes-patch-merge-key"] == key
        assert (
            prop["x-kubernetes-list-type"] == "map" and prop["x-kubernetes-list-map-keys"][0] == key
        )
    assert container["ports"]["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert spec["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert container["env"]["items"] == {
        "allOf": [{"$ref": SCHEMAS + "io.k8s.api.core.v1.EnvVar"}],
        "default": {},
    }
    meta = schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["creationTimestamp"]["allOf"] == [
        {"$ref": SCHEMAS + "io.k8s.apimachinery.pkg.apis.meta.v1.Time"}
    ]


def test_caching_headers_and_content_negotiation(api: ApiServer) -> None:
    with api.client() as client:
        index = client.get("/openapi/v3")
        url = index.json()["paths"]["apis/apps/v1"]["serverRelativeURL"]
        first = client.get(url)
        assert first.status_code == 200 and first.headers["content-type"] == "application/json"
        assert first.headers["cache-control"] == "public, immutable"
        etag = first.headers["etag"]
        assert etag.strip('"') == url.rsplit("hash=", 1)[1]
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        stale = client.get("/openapi/v3/apis/apps/v1?hash=0000")
        assert stale.status_code == 301 and stale.headers["location"] == url
        protobuf = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        refused = client.get("/openapi/v2", headers={"Accept": protobuf})
        assert refused.status_code == 406 and refused.json()["reason"] == "NotAcceptable"
        v2 = client.get("/openapi/v2", headers={"Accept": f"{protobuf}, application/json"})
        assert client.get("/openapi/v3/apis/nope/v1").status_code == 404
    assert v2.status_code == 200
    swagger = json.loads(v2.content)
    assert swagger["swagger"] == "2.0"
    pod = swagger["definitions"]["io.k8s.api.core.v1.Pod"]
    assert pod["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.core.v1.PodSpec"
    patch = swagger["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["consumes"] == ["application/merge-patch+json", "application/json-patch+json"]
    route = swagger["paths"]["/apis/dockyard.io/v1/alertroutes/{name}"]["patch"]
    assert route["consumes"] == ["application/merge-patch+json", "application/json-patch+json"]
    assert "#/components" not in v2.text


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [r for child in value.values() for r in _refs(child)]
    if isinstance(value, list):
        return [r for child in value for r in _refs(child)]
    return []
