"""The deployment files: docker-compose.yml, Dockerfile, .dockerignore and deploy/.

Docker is not needed (nor run): the compose file is parsed with ruamel.yaml (merge keys and
anchors resolved the way compose resolves them) and checked for what `docker compose up` would
only discover at run time — a missing password variable, a mount of a file that is not in the
repo, a dependency without a health check, a port published twice, a worker that cannot scale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "hub.env.example"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"

HUB_IMAGE = "hub:local"
HUB_API_PORT = "8400"
# What hub.service.Settings reads; every hub container must get each of them explicitly.
HUB_SETTINGS = ("HUB_DATABASE_URL", "HUB_BROKER_URL", "HUB_ROUTING", "HUB_API_HOST", "HUB_API_PORT")
# Stateful service -> where its data lives inside the container (a named volume must be there).
STATEFUL = {
    "rabbitmq": "/var/lib/rabbitmq",
    "postgres": "/var/lib/postgresql/data",
    "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
    "mail": "/var/mail",
}
RABBITMQ_CONF = "deploy/rabbitmq/rabbitmq.conf"
# Mounted from the repo but written by another change; its mount is checked on its own below.
WRITTEN_ELSEWHERE = {RABBITMQ_CONF}

# Compose's interpolation grammar: $$ (a literal $), $NAME, ${NAME} and ${NAME<op>arg} with op
# one of :- - :? ? :+ +. Anything else after a $ is an error for compose ("invalid template").
_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[A-Za-z_]\w*)"
    r"|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<invalid>))"
)
_DEFAULTED = {":-", "-"}
_ENV_LINE = re.compile(r"^(?P<comment>#\s*)?(?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>.*)$")


# --- helpers -----------------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = _load_yaml(COMPOSE)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _strings(node: Any) -> Iterator[str]:
    """Every string value in a parsed YAML tree (compose interpolates values, not keys)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _variables(text: str) -> Iterator[tuple[str, str]]:
    """(name, operator) for each variable reference in ``text``; ValueError on bad syntax."""
    for match in _TOKEN.finditer(text):
        if match["invalid"] is not None:
            raise ValueError(f"invalid interpolation at {match.start()} in {text!r}")
        if match["escaped"] is None:
            yield match["named"] or match["braced"], match["op"] or ""


def _with_defaults(text: str) -> str:
    """``text`` interpolated with an empty environment: defaults used, required ones marked."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"] is not None:
            return "$"
        op = match["op"] or ""
        if op in _DEFAULTED:
            return str(match["arg"])
        return f"<{match['named'] or match['braced']}>"

    return _TOKEN.sub(replace, text)


def _env_example() -> dict[str, tuple[bool, str]]:
    """Variable -> (set on an uncommented line, value) as deploy/hub.env.example lists them."""
    listed: dict[str, tuple[bool, str]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = _ENV_LINE.match(line.strip())
        if match and not (match["name"] in listed and listed[match["name"]][0]):
            listed[match["name"]] = (match["comment"] is None, match["value"].strip())
    return listed


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, str, bool]]:
    """(type, source, target, read_only) for each volume entry of ``service``."""
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            kind = entry.get("type", "volume")
            yield kind, entry.get("source", ""), entry["target"], bool(entry.get("read_only"))
            continue
        parts = entry.split(":")
        if len(parts) == 1:  # anonymous volume
            yield "volume", "", parts[0], False
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        yield kind, source, target, len(parts) > 2 and "ro" in parts[2].split(",")


def _published(service: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(host ip, host port, protocol) for each port ``service`` publishes on a fixed host port."""
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            if entry.get("published"):
                published = _with_defaults(str(entry["published"]))
                yield (
                    _with_defaults(str(entry.get("host_ip", ""))),
                    published,
                    entry.get("protocol", "tcp"),
                )
            continue
        spec, _, protocol = _with_defaults(str(entry)).partition("/")
        parts = spec.split(":")
        if len(parts) >= 2:
            yield (parts[0] if len(parts) == 3 else ""), parts[-2], protocol or "tcp"


def _hub_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("image") == HUB_IMAGE}


def _long_running_hub_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _hub_services(services).items() if s.get("command") == ["run"]}


# --- the compose file --------------------------------------------------------------------------


def test_compose_file_parses_into_services(compose: dict[str, Any]) -> None:
    assert set(compose) <= {"name", "services", "volumes", "networks", "configs", "secrets"} | {
        key for key in compose if key.startswith("x-")
    }
    expected = {"rabbitmq", "postgres", "migrate", "hub-api", "hub-worker", "mail"}
    assert expected | {"prometheus", "grafana"} <= set(compose["services"])


def test_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    missing = [name for name, s in services.items() if not (s.get("image") or s.get("build"))]
    assert missing == []


def test_every_value_uses_valid_interpolation(compose: dict[str, Any]) -> None:
    for text in _strings(compose):
        list(_variables(text))  # raises on a bare $ compose would reject


def test_every_variable_has_a_default_or_is_in_the_env_example(compose: dict[str, Any]) -> None:
    listed = _env_example()
    undocumented = {
        name
        for text in _strings(compose)
        for name, op in _variables(text)
        if op not in _DEFAULTED and name not in listed
    }
    assert undocumented == set(), f"add these to {ENV_EXAMPLE.relative_to(ROOT)}"


def test_required_variables_are_uncommented_blanks_in_the_env_example(
    compose: dict[str, Any],
) -> None:
    """A copied example must fail loudly (empty ${X:?}) rather than run on a sample password."""
    listed = _env_example()
    required = {name for text in _strings(compose) for name, op in _variables(text) if "?" in op}
    assert required, "the passwords should be required variables"
    for name in required:
        assert listed[name] == (True, ""), f"{name}: an empty, uncommented line in the example"


def test_env_example_lists_only_variables_the_compose_file_uses(compose: dict[str, Any]) -> None:
    used = {name for text in _strings(compose) for name, _ in _variables(text)}
    assert set(_env_example()) - used == set()


def test_no_literal_secrets_in_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    secret = re.compile(r"(PASS|PASSWORD|SECRET|TOKEN)$")
    for name, service in services.items():
        for key, value in _environment(service).items():
            if secret.search(key):
                assert value.startswith("${"), f"{name}.{key} must come from a variable"
        for key, value in _environment(service).items():
            url = _with_defaults(value)
            if key.endswith("_URL") and "@" in url:
                credentials = url.split("://", 1)[1].rsplit("@", 1)[0]
                password = credentials.split(":", 1)[1]
                assert re.fullmatch(r"<\w+>", password), f"{name}.{key}: password literal"


def test_dependencies_wait_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends.items():
            target = services[dependency]
            condition = spec["condition"]
            if condition == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} is a one-shot"
            else:
                assert condition == "service_healthy", f"{name} -> {dependency}: {condition}"
                assert target.get("healthcheck"), f"{dependency} needs a healthcheck"
                assert not target["healthcheck"].get("disable")
            assert set(target.get("profiles", [])) <= set(service.get("profiles", [])), (
                f"{name} depends on {dependency}, which only runs in a profile"
            )


def test_stateful_services_have_healthcheck_named_volume_and_restart(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, data_dir in STATEFUL.items():
        service = services[name]
        assert service.get("healthcheck", {}).get("test"), name
        named = {target for kind, _, target, _ in _mounts(service) if kind == "volume"}
        assert data_dir in named, f"{name}: {data_dir} on a named volume"
        assert service.get("restart") in {"unless-stopped", "always"}, name


def test_every_service_has_a_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("restart") in {"no", "unless-stopped", "always", "on-failure"}, name


def test_rabbitmq_runs_the_management_image_with_a_ping_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    rabbitmq = services["rabbitmq"]
    assert rabbitmq["image"].startswith("rabbitmq:3.13-management")
    assert rabbitmq["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert rabbitmq.get("hostname"), "the node name (and its data directory) follows the hostname"


def test_postgres_healthcheck_is_pg_isready(services: dict[str, dict[str, Any]]) -> None:
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_hub_services_share_the_x_hub_definition(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    shared = compose["x-hub"]
    assert shared["image"] == HUB_IMAGE
    assert shared["build"]["dockerfile"] == "Dockerfile"
    assert (ROOT / shared["build"]["context"] / shared["build"]["dockerfile"]).is_file()
    hub = _hub_services(services)
    assert set(hub) == {"migrate", "hub-api", "hub-worker"}
    for name, service in hub.items():
        assert service["build"] == shared["build"], name
        assert _environment(service) == _environment(shared), name
    assert hub["migrate"]["command"] == ["db", "upgrade"]
    assert set(_long_running_hub_services(services)) == {"hub-api", "hub-worker"}


def test_hub_services_get_every_setting_the_hub_reads(services: dict[str, dict[str, Any]]) -> None:
    for name, service in _hub_services(services).items():
        env = _environment(service)
        missing = [key for key in HUB_SETTINGS if not env.get(key)]
        assert missing == [], name
        assert env["HUB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["HUB_DATABASE_URL"]
        assert env["HUB_BROKER_URL"].startswith("amqp://")
        assert "@rabbitmq:5672/" in env["HUB_BROKER_URL"]
        assert env["HUB_API_HOST"] == "0.0.0.0", f"{name}: 127.0.0.1 is unreachable in a container"
        assert env["HUB_API_PORT"] == HUB_API_PORT


def test_hub_routing_file_is_mounted_where_hub_routing_points(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in _hub_services(services).items():
        routing = _with_defaults(_environment(service)["HUB_ROUTING"])
        mounts = {target: source for _, source, target, _ in _mounts(service)}
        assert mounts.get(routing) == "./routing.yaml", name


def test_running_hub_services_are_health_checked_on_healthz(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in _long_running_hub_services(services).items():
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{HUB_API_PORT}/healthz" in probe, name
        conditions = {dep: spec["condition"] for dep, spec in service["depends_on"].items()}
        assert conditions == {
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
            "migrate": "service_completed_successfully",
        }, name


def test_hub_api_publishes_the_api_port(services: dict[str, dict[str, Any]]) -> None:
    [port] = services["hub-api"]["ports"]
    assert _with_defaults(port).endswith(f":{HUB_API_PORT}")


def test_worker_can_scale(services: dict[str, dict[str, Any]]) -> None:
    worker = services["hub-worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "hostname" not in worker


def test_published_host_ports_do_not_clash(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for name, service in services.items():
        for ip, port, protocol in _published(service):
            assert port.isdigit(), f"{name}: host port {port!r} needs a default"
            other = seen.get((port, protocol))
            if other is not None:
                other_ip, other_name = other
                assert ip not in {"", "0.0.0.0", other_ip} and other_ip not in {"", "0.0.0.0"}, (
                    f"{name} and {other_name} both publish {port}/{protocol}"
                )
            seen[(port, protocol)] = (ip, name)


def test_repo_files_mounted_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for kind, source, _, read_only in _mounts(service):
            if kind != "bind":
                continue
            assert source.startswith("./"), f"{name}: {source} (mount repo files only)"
            assert read_only, f"{name}: {source} should be mounted read-only"
            if source[2:] not in WRITTEN_ELSEWHERE:
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repo"


def test_rabbitmq_conf_is_mounted_into_conf_d(services: dict[str, dict[str, Any]]) -> None:
    mounts = {source: (target, ro) for _, source, target, ro in _mounts(services["rabbitmq"])}
    assert mounts[f"./{RABBITMQ_CONF}"] == ("/etc/rabbitmq/conf.d/20-hub.conf", True)
    conf = ROOT / RABBITMQ_CONF
    if conf.exists():
        assert re.search(r"^\s*raft\.wal_max_size_bytes\s*=\s*\d+", conf.read_text(), re.M)


def test_named_volumes_are_declared_and_used(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        source
        for service in services.values()
        for kind, source, _, _ in _mounts(service)
        if kind == "volume" and source
    }
    assert used - declared == set(), "declare these under volumes:"
    assert declared - used == set(), "unused volumes"


def test_mail_relay_is_optional(services: dict[str, dict[str, Any]]) -> None:
    for name in ("mail", "mail-init"):
        assert services[name].get("profiles") == ["with-mail"], name
    assert services["mail"]["image"].startswith("docker.io/mailserver/docker-mailserver:")


# --- monitoring configs ------------------------------------------------------------------------


def test_prometheus_scrapes_the_hub_api(services: dict[str, dict[str, Any]]) -> None:
    config = _load_yaml(PROMETHEUS)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    hub = jobs["hub-api"]
    assert hub.get("metrics_path", "/metrics") == "/metrics"
    assert [f"hub-api:{HUB_API_PORT}"] in [c["targets"] for c in hub["static_configs"]]
    mounts = {source: target for _, source, target, _ in _mounts(services["prometheus"])}
    assert mounts["./deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"


def test_grafana_provisions_the_prometheus_datasource(services: dict[str, dict[str, Any]]) -> None:
    config = _load_yaml(GRAFANA_DATASOURCE)
    [source] = config["datasources"]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")
    mounts = {source: target for _, source, target, _ in _mounts(services["grafana"])}
    target = mounts["./deploy/grafana/provisioning/datasources"]
    assert target == "/etc/grafana/provisioning/datasources"


# --- the image -----------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def _last(instruction: str) -> str:
    return [args for name, args in _instructions() if name == instruction][-1]


def test_dockerfile_entrypoint_is_hub_and_runs_by_default() -> None:
    assert json.loads(_last("ENTRYPOINT")) == ["hub"]
    assert json.loads(_last("CMD")) == ["run"]


def test_dockerfile_installs_the_package_as_a_non_root_user() -> None:
    instructions = _instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert any(name == "RUN" and "pip install ." in args for name, args in instructions)
    copied = " ".join(args for name, args in instructions if name == "COPY")
    for path in ("routing.yaml", "profiles", "hub", "adapters", "pyproject.toml"):
        assert re.search(rf"(^|\s){re.escape(path)}(\s|$)", copied), path
    assert _last("USER") not in {"root", "0"}


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".venv", "var", "tests", ".git", ".env"} <= ignored
    needed = {"hub", "adapters", "routing.yaml", "profiles", "pyproject.toml", "README.md"}
    assert not needed & ignored
