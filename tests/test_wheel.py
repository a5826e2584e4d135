"""The wheel carries the app: built from a copy of the sources, installed into a fresh virtual
environment (--no-deps: its dependencies come from this environment's site-packages), then
`ser app` serves from outside the checkout and the Home page runs from the installed package."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from app.jobs import AUTOSTART_OFF

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "streamlit_app.py", ".streamlit", "ser_core", "app", "app_pages")
APP = "ser_explorer_app"

pytest.importorskip("setuptools", reason="the wheel is built without build isolation (no index at test time)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from a copy of the sources (the checkout gets no build/ or egg-info)."""
    tmp = tmp_path_factory.mktemp("wheel")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp / "src" / name, ignore=ignore)
        else:
            (tmp / "src").mkdir(exist_ok=True)
            shutil.copy(source, tmp / "src" / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(tmp / "dist"), str(tmp / "src")], check=True, capture_output=True)
    (built,) = (tmp / "dist").glob("ser_explorer-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(request, tmp_path_factory) -> Path:
    """A fresh venv with the wheel alone installed; this environment's site-packages added after its own.

    With SER_WHEEL_VENV set (.ci/wheel), the venv a user would have instead: the wheel and its
    real dependencies, installed there by pip.
    """
    if os.environ.get("SER_WHEEL_VENV"):
        return Path(os.environ["SER_WHEEL_VENV"])
    wheel = request.getfixturevalue("wheel")
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(own, "deps.pth").write_text("\n".join(sorted(deps)) + "\n")  # plain paths: no .pth of theirs runs
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    str(wheel)], check=True, capture_output=True)
    return venv


def test_the_wheel_holds_the_app_under_its_own_name(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("streamlit_app.py", ".streamlit/config.toml", "app/navigation.py", "app/scatter/scatter.js",
                 "app_pages/home.py", "app_pages/data.py"):
        assert f"{APP}/{name}" in names, name
    assert {"ser_core/recipes/demo.toml", "ser_core/corpora/sources.toml", "ser_core/cli/serve.py"} <= names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"ser_core", APP, wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert f"{APP}/setup.py" not in names


def test_ser_app_serves_the_installed_app_from_any_folder_and_stops_on_sigterm(installed, tmp_path):
    home, port = tmp_path / "home", free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SER_STATIC_DIR")}
    env.update(SER_HOME=str(home), **{AUTOSTART_OFF: "1"})
    home_page = textwrap.dedent(f"""
        import importlib.util, sys
        import ser_core
        from streamlit.testing.v1 import AppTest
        assert importlib.util.find_spec("app") is None  # no top-level `app` in site-packages
        at = AppTest.from_file({str(home / "server" / "streamlit_app.py")!r}, default_timeout=90).run()
        assert not at.exception, [e.message for e in at.exception]
        for module in (ser_core, sys.modules["app"]):
            assert module.__file__.startswith({str(installed)!r}), module.__file__
        print(at.title[0].value)
    """)
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([installed / "bin" / "ser", "app", "--headless", "--port", str(port)],
                              cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    page = None
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        launcher = home / "server" / "streamlit_app.py"
        while not launcher.is_file():  # written before the server starts: Home can run meanwhile
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.05)
        page = subprocess.Popen([installed / "bin" / "python", "-c", home_page], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.3)
        # what the app writes is served from $SER_HOME, not from the installed package
        (home / "server" / "static" / "probe.txt").write_text("served")
        with urllib.request.urlopen(f"{url}/app/static/probe.txt", timeout=5) as answer:
            assert answer.read() == b"served"
        assert APP in launcher.read_text()
        out, err = page.communicate(timeout=180)
        assert page.returncode == 0 and out.strip() == "SER Explorer", err[-3000:]
        server.send_signal(signal.SIGTERM)  # the server is the `ser app` process itself
        assert server.wait(15) == 0
    finally:
        for process in (page, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        log.close()


def test_the_server_settings_are_flags_not_the_working_directory(tmp_path):
    from ser_core.cli import build_parser
    from ser_core.cli.serve import server_command, write_launcher

    args = build_parser().parse_args(["app", "--port", "8600", "--headless"])
    launcher = write_launcher(ROOT, tmp_path / "server")
    command = server_command(args, ROOT, launcher)
    flags = dict(zip(command[5::2], command[6::2]))
    assert command[4] == str(launcher) and (tmp_path / "server" / "static").is_dir()
    assert flags["--server.enableXsrfProtection"] == "true" and flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.maxUploadSize"] == "500" and flags["--server.enableStaticServing"] == "true"
    assert command[-6:] == ["--server.address", "127.0.0.1", "--server.headless", "true",
                            "--server.fileWatcherType", "none"]
    assert command[command.index("--server.port") + 1] == "8600"
