"""``studio serve`` on loopback, the real command: no token in process lists or logs, a
private template folder, loopback Host only, SameSite cookies, the real port when the asked
one is taken, and SIGTERM stops Voila and its kernels."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from studio_kit.cli.serve_commands import (
    host_allowed,
    offline_template_dir,
    running_server,
    scrub,
)
from studio_kit.errors import StudioError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "serve-test-Tok3n-" + "x" * 12


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode("utf-8", "replace").split("=", 1) for p in raw if b"=" in p)


def _get(port: int, path: str, host: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Host": host} if host else {})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = tmp_path_factory.mktemp("serve") / "lighthouse"
    shutil.copytree(ROOT / "samples" / "lighthouse", dest,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    return dest


@pytest.fixture(scope="module")
def server(project, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with running_server(project, token=TOKEN, log=log) as srv:
        yield srv


def test_token_is_not_on_any_command_line_nor_in_the_output(server):
    assert _get(server.port, f"/?token={TOKEN}").status == 200
    assert _get(server.port, f"/nothing-here?token={TOKEN}").status == 404
    time.sleep(0.5)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            assert TOKEN not in _cmdline(int(entry.name)), _cmdline(int(entry.name))
    text = "\n".join(server.output)
    assert "token=[secret]" in text  # the access log names the request, not the token
    assert TOKEN not in text
    # the URLs are printed, naming the variable the token came from
    assert f"{server.url}/voila/render/talent_roster.ipynb?token=$STUDIO_TOKEN" in text
    assert _get(server.port, "/").status in (302, 401, 403)  # no token, no page


def test_only_loopback_host_names_are_answered(server):
    port = server.port
    assert _get(port, f"/?token={TOKEN}", host=f"localhost:{port}").status == 200
    assert _get(port, f"/?token={TOKEN}", host="127.0.0.1").status == 200
    for bad in ("attacker.example", f"attacker.example:{port}", f"127.0.0.1:{port + 1}",
                f"localhost.attacker.example:{port}"):
        assert _get(port, f"/?token={TOKEN}", host=bad).status == 403, bad
    assert host_allowed("[::1]:80", 80) and not host_allowed("[::1]:81", 80)


def test_login_cookie_is_samesite_strict(server):
    resp = _get(server.port, f"/?token={TOKEN}")
    cookies = resp.headers.get_all("Set-Cookie") or []
    assert cookies and all("samesite=strict" in c.lower() for c in cookies), cookies
    assert all("httponly" in c.lower() for c in cookies if c.startswith("username"))


def test_templates_come_from_a_private_folder(server):
    (voila,) = _children(server.proc.pid)
    env = _environ(voila)
    first = Path(env["JUPYTER_PATH"].split(os.pathsep)[0])
    st = first.stat()
    assert st.st_uid == os.getuid() and (st.st_mode & 0o077) == 0
    assert first.name != f"studio-voila-{os.getuid()}"
    # the token reaches Voila through its environment (readable by this user only)
    assert oct(Path(f"/proc/{voila}/environ").stat().st_mode & 0o777) == "0o400"


def test_a_shared_template_folder_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(StudioError, match="not a private folder"):
        offline_template_dir(shared)
    tpl = offline_template_dir() / "voila" / "templates" / "studio" / "index.html.j2"
    assert "cdn.jsdelivr.net" not in tpl.read_text()


def test_scrub_hides_tokens():
    assert scrub("/voila/render/a.ipynb?token=abc&x=1") == "/voila/render/a.ipynb?token=[secret]&x=1"


def test_a_taken_port_is_reported_and_the_printed_url_is_real(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with running_server(project, token=TOKEN, port=busy) as srv:
            assert srv.port != busy
            assert any(f"port {busy} is in use" in line for line in srv.output)
            url = f"{srv.url}/?token={TOKEN}"
            with urllib.request.urlopen(url, timeout=60) as r:
                assert r.status == 200


def test_sigterm_stops_voila_and_its_kernels(project):
    with running_server(project, token=TOKEN) as srv:
        (voila,) = _children(srv.proc.pid)
        # a page view starts a kernel (the notebook runs on the server)
        assert _get(srv.port, f"/voila/render/project_builder.ipynb?token={TOKEN}").status == 200
        kernels = [p for p in _children(voila) if "ipykernel" in _cmdline(p)]
        assert kernels, "no kernel started"
        for k in kernels:  # the notebook code never sees the token
            assert TOKEN not in "".join(_environ(k).values())
        private = Path(_environ(voila)["JUPYTER_PATH"].split(os.pathsep)[0]).parent
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(60) == 0
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in (voila, *kernels)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in (voila, *kernels))
    assert not private.exists()  # the private folder is removed
    assert any("stopped" in line for line in srv.output)
