#!/usr/bin/env python3
"""Tests of the Helm chart in charts/confab, run by scripts/test-chart.

Lints and renders the chart with the Helm engine (helm-python-sdk, no helm binary),
validates every rendered manifest with kubernetes-validate --strict, and checks the
properties operators rely on: autoscaling, disruption budget, probes, graceful drain,
config rollout, secrets kept out of ConfigMaps, and that every environment variable
the chart sets is one the `confab` binary reads (fields parsed from node/src/config.rs
at test time, so chart and binary cannot drift apart).

Prints one line per test and ends with `N passed, M failed`; exits non-zero on failure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import helm_python as helm
import yaml

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent.parent
CHART = REPO / "charts" / "confab"
# The Settings source; overridable so the check can be run against a branch's file.
SETTINGS_RS = Path(os.environ.get("CONFAB_SETTINGS_RS", REPO / "node" / "src" / "config.rs"))
# Kubernetes versions to validate against: the oldest the chart supports and a recent one.
KUBE_VERSIONS = ("1.30.0", "1.37.0")
RELEASE, NAMESPACE = "chat", "confab"
FULLNAME = "chat-confab"
# Environment variables confab reads besides CONFAB_<field> (API.md, README).
EXTRA_ENV = {"RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT"}
DASHBOARD_METRICS = {
    "confab_engineio_sessions",
    "confab_messages_received_total",
    "confab_messages_stored_total",
    "confab_messages_delivered_total",
    "confab_delivery_latency_seconds",
    "confab_store_batch_size",
    "confab_directory_errors_total",
    "confab_bus_errors_total",
    "confab_slow_consumer_disconnects_total",
    "confab_drain_events_total",
    "confab_http_requests_total",
    "confab_http_request_duration_seconds",
}


def load_values(name: str) -> dict:
    return yaml.safe_load((TESTS_DIR / name).read_text())


PRODUCTION = load_values("values-production.yaml")
QUICKSTART = load_values("values-quickstart.yaml")


def merge(base: dict, override: dict) -> dict:
    """Deep merge, like passing two -f files to helm."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys, which Kubernetes may reject or drop."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


class Rendered:
    """One rendering of the chart: manifests by kind/name, plus NOTES.txt."""

    def __init__(self, values: dict | None):
        with helm.Chart.load(CHART) as chart:
            files = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
        self.files = files
        self.notes = next((t for p, t in files.items() if p.endswith("NOTES.txt")), "")
        self.docs = [
            doc
            for path, text in sorted(files.items())
            if not path.endswith("NOTES.txt")
            for doc in yaml.load_all(text, Loader=StrictLoader)
            if doc
        ]

    def all(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict:
        found = [d for d in self.all(kind) if name is None or d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    @property
    def deployment(self) -> dict:
        return self.one("Deployment")

    @property
    def pod(self) -> dict:
        return self.deployment["spec"]["template"]["spec"]

    @property
    def container(self) -> dict:
        return self.pod["containers"][0]

    def config_data(self) -> dict:
        return self.one("ConfigMap", FULLNAME)["data"]

    def env_names(self) -> set[str]:
        """Every variable the chart puts in a container's environment."""
        names = set()
        configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in self.all("ConfigMap")}
        pods = [self.pod] + [j["spec"]["template"]["spec"] for j in self.all("Job")]
        for pod in pods:
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                names |= {e["name"] for e in container.get("env", [])}
                for source in container.get("envFrom", []):
                    ref = source.get("configMapRef")
                    assert ref, f"envFrom other than a ConfigMap the chart renders: {source}"
                    names |= set(configmaps[ref["name"]])
        return names


def render_fails(values: dict, needle: str) -> None:
    try:
        Rendered(values)
    except helm.HelmError as error:
        assert needle in str(error), f"failed, but not with {needle!r}: {error}"
        return
    raise AssertionError(f"rendering should fail with {needle!r}")


def settings_fields() -> list[str]:
    source = SETTINGS_RS.read_text()
    body = re.search(r"pub struct Settings\s*\{(.*?)\n\}", source, re.S)
    assert body, f"no `pub struct Settings` in {SETTINGS_RS}"
    fields = re.findall(r"^\s*pub (\w+):", body.group(1), re.M)
    assert len(fields) >= 10, f"only {fields} parsed from {SETTINGS_RS}"
    return fields


def env_of(container: dict, name: str) -> dict:
    found = [e for e in container.get("env", []) if e["name"] == name]
    assert len(found) == 1, f"{name} set {len(found)} times"
    return found[0]


# ---------------------------------------------------------------------------------------
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def lint_passes_strict_with_every_values_file():
    for label, values in (("default", None), ("production", PRODUCTION), ("quickstart", QUICKSTART)):
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.37.0")
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert not problems, f"{label}: {problems}"


@test
def every_manifest_validates_strictly_against_kubernetes_schemas():
    exe = Path(sys.executable).parent / "kubernetes-validate"
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for label, values in (("default", None), ("production", PRODUCTION), ("quickstart", QUICKSTART)):
            for doc in Rendered(values).docs:
                path = Path(tmp) / f"{label}-{doc['kind']}-{doc['metadata']['name']}.yaml"
                path.write_text(yaml.safe_dump(doc))
                paths.append(str(path))
        for version in KUBE_VERSIONS:
            run = subprocess.run(
                [str(exe), "--strict", "--quiet", "-k", version, *paths],
                capture_output=True, text=True, check=False,
            )
            lines = (run.stdout + run.stderr).splitlines()
            errors = [l for l in lines if not l.startswith("WARN")]
            # Only the Prometheus Operator's CRD has no built-in schema.
            unknown = [l for l in lines if l.startswith("WARN") and "ServiceMonitor" not in l]
            assert run.returncode == 0 and not errors and not unknown, f"{version}:\n" + "\n".join(lines)


@test
def default_install_is_a_single_standalone_node():
    r = Rendered(None)
    kinds = sorted(d["kind"] for d in r.docs)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"], kinds
    assert r.deployment["spec"]["replicas"] == 1
    assert r.deployment["spec"]["strategy"]["type"] == "Recreate"
    assert r.config_data()["CONFAB_DATABASE_URL"].startswith("sqlite:///data/")
    mounts = {m["mountPath"] for m in r.container["volumeMounts"]}
    assert {"/tmp", "/data"} <= mounts, mounts
    assert "LOST" in r.notes


@test
def production_renders_the_expected_resources():
    r = Rendered(PRODUCTION)
    kinds = sorted(d["kind"] for d in r.docs)
    assert kinds == sorted([
        "ConfigMap", "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job",
        "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor",
    ]), kinds
    assert "replicas" not in r.deployment["spec"], "the HPA owns the replica count"
    strategy = r.deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0


@test
def hpa_scales_on_cpu_and_connections_and_scales_down_one_pod_at_a_time():
    r = Rendered(PRODUCTION)
    hpa = r.one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": r.deployment["metadata"]["name"]}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 30)
    by_type = {m["type"]: m for m in spec["metrics"]}
    assert set(by_type) == {"Resource", "Pods"}, spec["metrics"]
    cpu = by_type["Resource"]["resource"]
    assert cpu["name"] == "cpu" and cpu["target"] == {"type": "Utilization", "averageUtilization": 65}
    pods = by_type["Pods"]["pods"]
    assert pods["metric"]["name"] == "confab_engineio_sessions"
    assert pods["target"] == {"type": "AverageValue", "averageValue": "20000"}
    down = spec["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] >= 60
    assert down["policies"] and all(p["type"] == "Pods" and p["value"] == 1 for p in down["policies"]), down
    assert down["selectPolicy"] != "Max"
    assert spec["behavior"]["scaleUp"]["policies"]
    # Without the custom metric, CPU alone.
    plain = Rendered(merge(PRODUCTION, {"autoscaling": {"connections": {"enabled": False}}}))
    assert [m["type"] for m in plain.one("HorizontalPodAutoscaler")["spec"]["metrics"]] == ["Resource"]


def node_sources() -> str:
    """The Rust sources of the node, where every metric the `confab` binary exports is named
    (the Socket.IO server crate records through handles the node registers)."""
    return "\n".join(p.read_text() for p in (REPO / "node" / "src").rglob("*.rs"))


@test
def hpa_metric_is_the_gauge_the_node_exports():
    sources = node_sources()
    metrics = Rendered(PRODUCTION).one("HorizontalPodAutoscaler")["spec"]["metrics"]
    names = [m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"]
    assert names == ["confab_engineio_sessions"], names
    assert f'gauge!("{names[0]}")' in sources, f"the node registers no gauge {names[0]}"


@test
def pdb_covers_the_nodes_and_lets_one_go_at_a_time():
    for values in (None, PRODUCTION):
        r = Rendered(values)
        pdb = r.one("PodDisruptionBudget")
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        pod_labels = r.deployment["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    spec = Rendered({"podDisruptionBudget": {"minAvailable": "50%"}}).one("PodDisruptionBudget")["spec"]
    assert spec["minAvailable"] == "50%" and "maxUnavailable" not in spec


@test
def probes_hit_the_endpoints_the_node_serves():
    routes = set(re.findall(r'\.route\("(/[a-z]+)"', (REPO / "node/src/api/health.rs").read_text()))
    assert {"/healthz", "/readyz", "/metrics"} <= routes, routes
    for values, scheme in ((None, "HTTP"), (PRODUCTION, "HTTPS")):
        c = Rendered(values).container
        port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
            get = c[probe]["httpGet"]
            assert get["path"] == path and get["path"] in routes, (probe, get)
            assert get["port"] in port_names and get["scheme"] == scheme, (probe, get)
        listen = env_of(c, "CONFAB_LISTEN")["value"]
        assert listen == f"0.0.0.0:{port_names['http']}", listen


@test
def grace_period_outlasts_prestop_and_the_drain_deadline():
    for values in (None, PRODUCTION, {"config": {"drain_deadline_secs": 90, "shutdown_timeout_secs": 30}},
                   {"lifecycle": {"preStopSleepSeconds": 30}}):
        r = Rendered(values)
        data = r.config_data()
        deadline = int(data["CONFAB_DRAIN_DEADLINE_SECS"])
        shutdown = int(data["CONFAB_SHUTDOWN_TIMEOUT_SECS"])
        assert int(data["CONFAB_DRAIN_WINDOW_SECS"]) < deadline
        sleep = r.container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert sleep >= 5, "load balancers need time to stop sending"
        grace = r.pod["terminationGracePeriodSeconds"]
        assert grace > sleep + max(deadline, shutdown), (grace, sleep, deadline, shutdown)
    render_fails({"terminationGracePeriodSeconds": 20}, "terminationGracePeriodSeconds must exceed")
    render_fails({"config": {"drain_window_secs": 30}}, "drain_window_secs must be shorter")


@test
def config_checksum_follows_the_config_and_only_the_config():
    def checksum(values):
        return Rendered(values).deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = checksum(PRODUCTION)
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert checksum(merge(PRODUCTION, {"config": {"log_format": "text"}})) != base
    assert checksum(merge(PRODUCTION, {"config": {"drain_window_secs": 5}})) != base
    assert checksum(merge(PRODUCTION, {"logLevel": "debug"})) != base
    assert checksum(merge(PRODUCTION, {"autoscaling": {"maxReplicas": 50}})) == base
    assert checksum(merge(PRODUCTION, {"image": {"tag": "0.2.0"}})) == base


@test
def config_values_render_as_the_node_parses_them():
    data = Rendered({"config": {"http_json_limit": 1048576, "cors_origins": ["https://a.example", "*"],
                                "max_body_bytes": None, "workers": 4}}).config_data()
    assert data["CONFAB_HTTP_JSON_LIMIT"] == "1048576", data  # not 1.048576e+06
    assert data["CONFAB_CORS_ORIGINS"] == '["https://a.example","*"]', data
    assert data["CONFAB_WORKERS"] == "4" and "CONFAB_MAX_BODY_BYTES" not in data
    assert "CONFAB_CORS_ORIGINS" not in Rendered(None).config_data(), "an empty list keeps the default"


@test
def secret_values_appear_only_in_the_secret():
    r = Rendered(QUICKSTART)
    secret = r.one("Secret")
    stored = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    given = QUICKSTART["secrets"]
    assert stored == {
        "jwt-secret": given["jwtSecret"], "database-url": given["databaseUrl"],
        "redis-url": given["redisUrl"], "nats-url": given["natsUrl"],
        "s3-secret-access-key": given["s3SecretAccessKey"],
    }
    needles = [given[k] for k in ("jwtSecret", "databaseUrl", "redisUrl", "natsUrl", "s3SecretAccessKey")]
    needles += [n for n in ("pg-password-s3cr3t", "redis-password-s3cr3t", "nats-password-s3cr3t")]
    needles += [base64.b64encode(n.encode()).decode() for n in needles]
    for doc in r.docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        leaked = [n for n in needles if n in text]
        assert not leaked, f"{doc['kind']} {doc['metadata']['name']} shows {leaked}"
    assert not [n for n in needles if n in r.notes], "NOTES.txt shows a secret"
    for configmap in r.all("ConfigMap"):
        assert not {"CONFAB_JWT_SECRET", "CONFAB_DATABASE_URL", "CONFAB_REDIS_URL", "CONFAB_NATS_URL",
                    "CONFAB_S3_SECRET_ACCESS_KEY"} & set(configmap.get("data", {}))
    annotations = r.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" in annotations, "a changed chart-made Secret must roll the pods"


@test
def secrets_come_from_the_existing_secret_by_reference():
    r = Rendered(PRODUCTION)
    assert not r.all("Secret")
    keys = {"CONFAB_JWT_SECRET": "jwt-secret", "CONFAB_DATABASE_URL": "database-url",
            "CONFAB_REDIS_URL": "redis-url", "CONFAB_NATS_URL": "nats-url",
            "CONFAB_S3_SECRET_ACCESS_KEY": "s3-secret-access-key"}
    for container in (r.container, r.one("Job")["spec"]["template"]["spec"]["containers"][0]):
        for name, key in keys.items():
            ref = env_of(container, name)["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "confab-secrets", "key": key}, ref
    custom = Rendered(merge(PRODUCTION, {"secrets": {"keys": {"jwtSecret": "token-key"}}}))
    assert env_of(custom.container, "CONFAB_JWT_SECRET")["valueFrom"]["secretKeyRef"]["key"] == "token-key"


@test
def webhook_secret_comes_from_the_secret_like_the_jwt_secret():
    urls = {"config": {"webhook_urls": ["https://push-relay.chat.svc/hook"], "webhook_include_body": False}}
    # No webhooks: the Secret is not asked for a key it need not have.
    for values in (None, PRODUCTION, {"secrets": {"existingSecret": "s"}}):
        assert "CONFAB_WEBHOOK_SECRET" not in Rendered(values).env_names()
    r = Rendered(merge(PRODUCTION, urls))
    ref = env_of(r.container, "CONFAB_WEBHOOK_SECRET")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "confab-secrets", "key": "webhook-secret"}, ref
    data = r.config_data()
    assert data["CONFAB_WEBHOOK_URLS"] == '["https://push-relay.chat.svc/hook"]', data
    assert data["CONFAB_WEBHOOK_INCLUDE_BODY"] == "false", data
    for configmap in r.all("ConfigMap"):
        assert "CONFAB_WEBHOOK_SECRET" not in configmap.get("data", {})
    custom = Rendered(merge(PRODUCTION, merge(urls, {"secrets": {"keys": {"webhookSecret": "hook-key"}}})))
    assert env_of(custom.container, "CONFAB_WEBHOOK_SECRET")["valueFrom"]["secretKeyRef"]["key"] == "hook-key"
    # A quick start: the chart-made Secret holds it, and nothing else shows it.
    given = "quickstart-webhook-secret-0123456789"
    quick = Rendered(merge(QUICKSTART, merge(urls, {"secrets": {"webhookSecret": given}})))
    stored = {k: base64.b64decode(v).decode() for k, v in quick.one("Secret")["data"].items()}
    assert stored["webhook-secret"] == given
    ref = env_of(quick.container, "CONFAB_WEBHOOK_SECRET")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{FULLNAME}-secrets", "key": "webhook-secret"}, ref
    for doc in quick.docs:
        if doc["kind"] != "Secret":
            text = yaml.safe_dump(doc)
            assert given not in text and base64.b64encode(given.encode()).decode() not in text, doc["kind"]
    render_fails(merge(QUICKSTART, urls), "config.webhook_urls needs the webhook secret")


@test
def s3_secret_comes_from_the_secret_like_the_webhook_secret():
    bucket = {"config": {"s3_bucket": "chat-files", "s3_access_key_id": "AKIAEXAMPLE"}}
    # No bucket: the Secret is not asked for a key it need not have.
    for values in (None, {"secrets": {"existingSecret": "s"}}):
        assert "CONFAB_S3_SECRET_ACCESS_KEY" not in Rendered(values).env_names()
    r = Rendered(merge({"secrets": {"existingSecret": "s"}}, bucket))
    ref = env_of(r.container, "CONFAB_S3_SECRET_ACCESS_KEY")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "s", "key": "s3-secret-access-key"}, ref
    data = r.config_data()
    assert data["CONFAB_S3_BUCKET"] == "chat-files" and data["CONFAB_S3_ACCESS_KEY_ID"] == "AKIAEXAMPLE", data
    assert "CONFAB_STORAGE_DIR" not in data, "with a bucket, no directory"
    for configmap in r.all("ConfigMap"):
        assert "CONFAB_S3_SECRET_ACCESS_KEY" not in configmap.get("data", {})
    # Cluster mode: from the existing Secret, in the nodes and in the migration Job.
    prod = Rendered(PRODUCTION)
    for container in (prod.container, prod.one("Job")["spec"]["template"]["spec"]["containers"][0]):
        ref = env_of(container, "CONFAB_S3_SECRET_ACCESS_KEY")["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "confab-secrets", "key": "s3-secret-access-key"}, ref
    custom = Rendered(merge(PRODUCTION, {"secrets": {"keys": {"s3SecretAccessKey": "bucket-key"}}}))
    assert env_of(custom.container, "CONFAB_S3_SECRET_ACCESS_KEY")["valueFrom"]["secretKeyRef"]["key"] == "bucket-key"
    # A quick start: the chart-made Secret holds it, and nothing else shows it.
    given = "quickstart-s3-secret-0123456789"
    quick = Rendered(merge(QUICKSTART, {"secrets": {"s3SecretAccessKey": given}}))
    stored = {k: base64.b64decode(v).decode() for k, v in quick.one("Secret")["data"].items()}
    assert stored["s3-secret-access-key"] == given
    ref = env_of(quick.container, "CONFAB_S3_SECRET_ACCESS_KEY")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{FULLNAME}-secrets", "key": "s3-secret-access-key"}, ref
    assert quick.config_data()["CONFAB_S3_ENDPOINT"] == "http://confab-minio:9000"
    for doc in quick.docs:
        if doc["kind"] != "Secret":
            text = yaml.safe_dump(doc)
            assert given not in text and base64.b64encode(given.encode()).decode() not in text, doc["kind"]
    render_fails(merge(QUICKSTART, {"secrets": {"s3SecretAccessKey": ""}}), "config.s3_bucket needs the S3 secret access key")
    render_fails(merge(bucket, {"secrets": {"s3SecretAccessKey": "x"}, "config": {"s3_access_key_id": ""}}),
                 "config.s3_bucket needs config.s3_access_key_id")


@test
def uploads_have_a_writable_home_standalone_and_a_shared_bucket_in_a_cluster():
    r = Rendered(None)
    data = r.config_data()
    mounts = {m["mountPath"] for m in r.container["volumeMounts"]}
    assert data["CONFAB_STORAGE_DIR"] == "/data/uploads" and "/data" in mounts, (data, mounts)
    assert "uploaded files" in r.notes
    # The root filesystem is read-only: the node's own default (relative to /app) could not be created.
    assert r.container["securityContext"]["readOnlyRootFilesystem"] is True
    render_fails(merge(QUICKSTART, {"config": {"s3_bucket": ""}}), "mode: cluster needs config.s3_bucket")
    for bad in ({"standalone": {"storageDir": "/app/uploads"}}, {"config": {"upload_types": ["image/*"]}},
                {"config": {"unreferenced_upload_secs": 0}}, {"config": {"s3_endpoint": "minio:9000"}}):
        try:
            Rendered(bad)
        except helm.HelmError:
            continue
        raise AssertionError(f"schema accepted {bad}")
    data = Rendered({"config": {"max_upload_bytes": 104857600, "storage_quota_bytes": 10737418240,
                                "upload_types": ["image/jpeg", "application/pdf"],
                                "unreferenced_upload_secs": 3600}}).config_data()
    assert data["CONFAB_MAX_UPLOAD_BYTES"] == "104857600" and data["CONFAB_STORAGE_QUOTA_BYTES"] == "10737418240", data
    assert data["CONFAB_UPLOAD_TYPES"] == '["image/jpeg","application/pdf"]', data
    assert data["CONFAB_UNREFERENCED_UPLOAD_SECS"] == "3600", data


@test
def ingress_lets_uploads_of_max_upload_bytes_through():
    def body_size(values):
        ing = Rendered(merge(PRODUCTION, values)).one("Ingress")
        return ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]

    assert body_size({}) == "26m", "the node's default 25 MiB, plus one"
    assert body_size({"config": {"max_upload_bytes": 104857600}}) == "101m"
    assert body_size({"config": {"max_upload_bytes": 1}}) == "2m", "never below Engine.IO's 1 MB"
    assert body_size({"ingress": {"websocket": {"maxBodySize": "1g"}}}) == "1g"
    assert body_size({"ingress": {"websocket": {"maxBodySize": "0"}}}) == "0", "0: no limit"
    assert body_size({"config": {"max_upload_bytes": 2097152}, "ingress": {"websocket": {"maxBodySize": "2m"}}}) == "2m"
    render_fails(merge(PRODUCTION, {"ingress": {"websocket": {"maxBodySize": "2m"}}}),
                 "ingress.websocket.maxBodySize (2m) is below config.max_upload_bytes (26214400 bytes)")
    render_fails(merge(PRODUCTION, {"config": {"max_upload_bytes": 52428800},
                                    "ingress": {"websocket": {"maxBodySize": "51199k"}}}),
                 "is below config.max_upload_bytes")
    # Other controllers set their own limit: nothing is checked or added.
    plain = Rendered(merge(PRODUCTION, {"ingress": {"websocket": {"nginx": False, "maxBodySize": "1k"}}}))
    assert not any("body-size" in k for k in plain.one("Ingress")["metadata"].get("annotations", {}))


@test
def every_environment_variable_is_one_confab_reads():
    fields = settings_fields()
    known = {f"CONFAB_{f.upper()}" for f in fields} | EXTRA_ENV
    renders = {
        "default": None, "production": PRODUCTION, "quickstart": QUICKSTART,
        "standalone+secret": {"secrets": {"existingSecret": "s"}},
        "webhooks": merge(PRODUCTION, {"config": {"webhook_urls": ["https://relay.example/hook"],
                                                  "webhook_include_body": False, "webhook_retry_base_ms": 500,
                                                  "webhook_max_attempts": 5, "webhook_queue_max": 1000}}),
        "attachments": merge(QUICKSTART, {"config": {"s3_region": "auto", "max_upload_bytes": 1048576,
                                                     "upload_types": ["image/png"], "storage_quota_bytes": 0,
                                                     "unreferenced_upload_secs": 600}}),
    }
    seen = set()
    for label, values in renders.items():
        names = Rendered(values).env_names()
        unknown = names - known
        assert not unknown, f"{label}: confab reads no {sorted(unknown)} (Settings fields: {fields})"
        seen |= names
    # The chart's config block accepts only real settings, by the node's own names.
    schema = json.loads((CHART / "values.schema.json").read_text())
    config_keys = set(schema["properties"]["config"]["properties"])
    assert config_keys <= set(fields), f"schema allows non-settings {sorted(config_keys - set(fields))}"
    assert {"CONFAB_NODE_ID", "CONFAB_LISTEN", "CONFAB_TLS_CERT", "CONFAB_TLS_KEY", "CONFAB_DRAIN_WINDOW_SECS",
            "CONFAB_DRAIN_DEADLINE_SECS", "OTEL_EXPORTER_OTLP_ENDPOINT", "CONFAB_STORAGE_DIR", "CONFAB_S3_BUCKET",
            "CONFAB_S3_ENDPOINT", "CONFAB_S3_REGION", "CONFAB_S3_ACCESS_KEY_ID", "CONFAB_S3_SECRET_ACCESS_KEY",
            "CONFAB_MAX_UPLOAD_BYTES", "CONFAB_UPLOAD_TYPES", "CONFAB_STORAGE_QUOTA_BYTES",
            "CONFAB_UNREFERENCED_UPLOAD_SECS"} <= seen


@test
def schema_rejects_settings_the_chart_owns_and_unknown_ones():
    for bad in ({"config": {"listen": "0.0.0.0:1"}}, {"config": {"jwt_secret": "x" * 40}},
                {"config": {"webhook_secret": "x" * 40}}, {"config": {"webhook_urls": ["ftp://x"]}},
                {"config": {"s3_secret_access_key": "x" * 40}}, {"config": {"storage_dir": "/data/x"}},
                {"config": {"drain_windw_secs": 3}}, {"mode": "cluster-ish"},
                {"secrets": {"jwtSecret": "too-short"}}, {"secrets": {"webhookSecret": "too-short"}}):
        try:
            Rendered(bad)
        except helm.HelmError:
            continue
        raise AssertionError(f"schema accepted {bad}")


@test
def node_id_is_the_pod_name():
    for values in (None, PRODUCTION):
        ref = env_of(Rendered(values).container, "CONFAB_NODE_ID")["valueFrom"]["fieldRef"]
        assert ref["fieldPath"] == "metadata.name"


@test
def pods_run_locked_down():
    r = Rendered(PRODUCTION)
    pods = [r.pod, r.one("Job")["spec"]["template"]["spec"]]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
    assert r.container["resources"]["requests"]["cpu"] and r.container["resources"]["limits"]["memory"]
    keys = {t["topologyKey"]: t for t in r.pod["topologySpreadConstraints"]}
    assert set(keys) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert keys["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for t in keys.values():
        assert t["labelSelector"]["matchLabels"].items() <= r.deployment["spec"]["template"]["metadata"]["labels"].items()
    assert r.one("ServiceAccount")["automountServiceAccountToken"] is False


@test
def dockerfile_user_and_port_match_the_chart():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2, "multi-stage build"
    assert "cargo build --release" in dockerfile and "-p confab-node" in dockerfile
    uid = re.search(r"^USER (\d+)", dockerfile, re.M)
    assert uid, "the runtime stage runs as a numeric non-root USER"
    defaults = Rendered(None)
    assert int(uid.group(1)) == defaults.pod["securityContext"]["runAsUser"] != 0
    assert re.search(rf"^EXPOSE {defaults.container['ports'][0]['containerPort']}\b", dockerfile, re.M)
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/confab"\]', dockerfile, re.M)
    assert re.search(r'^CMD \["serve"\]', dockerfile, re.M)


@test
def tls_mounts_the_secret_and_points_the_node_at_it():
    r = Rendered(PRODUCTION)
    c = r.container
    mount = next(m for m in c["volumeMounts"] if m["name"] == "tls")
    volume = next(v for v in r.pod["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "confab-node-tls" and mount["readOnly"] is True
    assert env_of(c, "CONFAB_TLS_CERT")["value"] == f"{mount['mountPath']}/tls.crt"
    assert env_of(c, "CONFAB_TLS_KEY")["value"] == f"{mount['mountPath']}/tls.key"
    assert r.one("Service")["spec"]["ports"][0]["appProtocol"] == "https"
    render_fails({"tls": {"enabled": True}}, "tls.secretName")


@test
def ingress_keeps_websockets_open():
    r = Rendered(PRODUCTION)
    ing = r.one("Ingress")
    notes = ing["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert notes["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [{"secretName": "chat-example-com-tls", "hosts": ["chat.example.com"]}]
    backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": r.one("Service")["metadata"]["name"], "port": {"name": "http"}}
    assert "https://chat.example.com/" in r.notes


@test
def service_monitor_scrapes_metrics_on_their_own_port_never_through_the_ingress():
    r = Rendered(PRODUCTION)
    sm = r.one("ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    endpoint = sm["spec"]["endpoints"][0]
    service_ports = {p["name"]: p for p in r.one("Service")["spec"]["ports"]}
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "metrics" in service_ports
    assert endpoint["scheme"] == "http"
    # The metrics have a listener of their own, which the ingress never routes to.
    c = r.container
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert env_of(c, "CONFAB_METRICS_LISTEN")["value"] == f"0.0.0.0:{port_names['metrics']}"
    assert service_ports["metrics"]["targetPort"] == "metrics"
    backend = r.one("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["port"] == {"name": "http"}
    assert env_of(c, "CONFAB_TRUST_FORWARDED_FOR")["value"] == "true"
    assert sm["spec"]["selector"]["matchLabels"].items() <= r.one("Service")["metadata"]["labels"].items()


@test
def cluster_security_mounts_cas_and_passes_nats_credentials_by_reference():
    plain = Rendered(PRODUCTION)
    security_env = {
        "CONFAB_NATS_TOKEN", "CONFAB_NATS_NKEY_SEED", "CONFAB_REDIS_TLS_CA_FILE",
        "CONFAB_NATS_TLS_CA_FILE", "CONFAB_NATS_TLS_CERT", "CONFAB_NATS_TLS_KEY",
    }
    assert not security_env & plain.env_names()
    values = merge(PRODUCTION, {"clusterSecurity": {
        "existingSecret": "cluster-creds", "natsAuth": "nkey", "redisCa": True, "natsCa": True,
        "natsClientCert": True,
    }})
    r = Rendered(values)
    c = r.container
    seed = env_of(c, "CONFAB_NATS_NKEY_SEED")["valueFrom"]["secretKeyRef"]
    assert seed == {"name": "cluster-creds", "key": "nats-nkey-seed"}
    assert "CONFAB_NATS_TOKEN" not in r.env_names()
    mount = next(m for m in c["volumeMounts"] if m["name"] == "cluster-security")
    assert mount["readOnly"] and mount["mountPath"] == "/etc/confab/cluster"
    volume = next(v for v in r.deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "cluster-security")
    assert volume["secret"]["secretName"] == "cluster-creds"
    for name, file in (
        ("CONFAB_REDIS_TLS_CA_FILE", "redis-ca.pem"), ("CONFAB_NATS_TLS_CA_FILE", "nats-ca.pem"),
        ("CONFAB_NATS_TLS_CERT", "nats-client.crt"), ("CONFAB_NATS_TLS_KEY", "nats-client.key"),
    ):
        assert env_of(c, name)["value"] == f"/etc/confab/cluster/{file}", name
    token = Rendered(merge(PRODUCTION, {"clusterSecurity": {"existingSecret": "s", "natsAuth": "token"}}))
    assert env_of(token.container, "CONFAB_NATS_TOKEN")["valueFrom"]["secretKeyRef"]["key"] == "nats-token"


@test
def dashboard_ships_for_the_grafana_sidecar_with_every_panel():
    r = Rendered(PRODUCTION)
    cm = r.one("ConfigMap", f"{FULLNAME}-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "Chat"
    dashboard = json.loads(cm["data"]["confab.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set()
    for expr in exprs:
        used |= {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bconfab_\w+", expr)}
    assert used == DASHBOARD_METRICS, f"missing {DASHBOARD_METRICS - used}, unexpected {used - DASHBOARD_METRICS}"
    # Every metric the dashboard charts is one the node registers (chart and binary cannot drift).
    sources = node_sources()
    registered = set(re.findall(r'(?:counter|gauge|histogram)!\(\s*"(confab_\w+)"', sources))
    assert DASHBOARD_METRICS <= registered, f"the node registers no {DASHBOARD_METRICS - registered}"
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for word in ("connections", "messages", "deliveries", "latency", "batch", "directory", "bus", "slow", "drain"):
        assert word in titles, word
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    off = Rendered({"dashboard": {"enabled": False}}).all("ConfigMap")
    assert [c["metadata"]["name"] for c in off] == [FULLNAME], "the dashboard can be turned off"


@test
def migration_job_runs_before_the_nodes_start_without_migrating():
    r = Rendered(PRODUCTION)
    job = r.one("Job")
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    assert r.container["args"] == ["serve", "--no-migrate"]
    assert Rendered(None).container["args"] == ["serve"]
    render_fails(merge(QUICKSTART, {"migrations": {"job": True}}), "migrations.job needs secrets.existingSecret")


@test
def unworkable_combinations_are_refused():
    render_fails({"replicaCount": 3}, "needs mode: cluster")
    render_fails({"autoscaling": {"enabled": True}}, "needs mode: cluster")
    render_fails({"mode": "cluster"}, "mode: cluster needs secrets.existingSecret")
    render_fails(merge(PRODUCTION, {"config": {"s3_bucket": ""}}), "mode: cluster needs config.s3_bucket")
    render_fails(merge(QUICKSTART, {"secrets": {"natsUrl": ""}}), "secrets.natsUrl")
    render_fails(merge(PRODUCTION, {"clusterSecurity": {"natsCa": True}}), "need clusterSecurity.existingSecret")
    render_fails({"clusterSecurity": {"existingSecret": "s"}}, "clusterSecurity is for mode: cluster")


def main() -> int:
    passed = failed = 0
    only = sys.argv[1:]
    for fn in TESTS:
        if only and not any(o in fn.__name__ for o in only):
            continue
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {fn.__name__}: {type(error).__name__}: {error}")
            if os.environ.get("VERBOSE"):
                traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
