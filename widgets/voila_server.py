"""The studio's Voila server process (``python -m widgets.voila_server``), started by
``studio serve`` (``studio_kit.cli.serve_commands``, which explains the protections): loopback
Host only, the token from the environment, scrubbed logs, SameSite=Strict cookies, a closed
page's kernel shut down. It lives here, not in studio_kit, because it imports Voila and
tornado (studio_kit has no UI imports)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from typing import Any

from studio_kit.cli.serve_commands import KERNEL_GRACE_S, TOKEN_ENV, host_allowed, scrub


def _access_log(handler: Any) -> None:
    """tornado's access log line, without the token a URL may carry."""
    status = handler.get_status()
    log = logging.getLogger("tornado.access")
    level = log.info if status < 400 else log.warning if status < 500 else log.error
    req = handler.request
    level("%d %s %s (%s) %.2fms", status, req.method, scrub(req.uri), req.remote_ip,
          1000.0 * req.request_time())


def _scrub_all_logs() -> None:
    """Every log record of this process (tornado's error lines name the full URL too) is
    formatted with any ``token=...`` replaced."""
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own handling
            return record
        if "token" in text.lower():
            record.msg, record.args = scrub(text), None
        return record

    logging.setLogRecordFactory(factory)


def _same_origin_shutdown(handler: Any) -> Any:
    """Voila's page asks for its kernel's shutdown on ``beforeunload`` with
    ``navigator.sendBeacon``, which cannot carry the XSRF header, so jupyter_server refused
    every one (403) and no kernel ever stopped. The shutdown is accepted from this server's
    own pages (Origin / Sec-Fetch-Site same-origin); the login cookie is SameSite=Strict,
    so another site's request is not even authenticated."""
    from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler

    if not (isinstance(handler, tuple) and len(handler) >= 2
            and handler[1] is VoilaShutdownKernelHandler):
        return handler

    class SameOriginShutdown(VoilaShutdownKernelHandler):
        def check_xsrf_cookie(self) -> None:
            req = self.request
            origin = req.headers.get("Origin")
            site = req.headers.get("Sec-Fetch-Site")
            if (origin in (f"http://{req.host}",) and site in (None, "same-origin")):
                return None
            return super().check_xsrf_cookie()

    return (handler[0], SameOriginShutdown, *handler[2:])


def launch(argv: list[str] | None = None) -> None:
    """Run Voila with the studio's protections (see the module docstring)."""
    import tornado.web
    from jupyter_core.utils import ensure_async
    from tornado.ioloop import IOLoop
    from traitlets import Float
    from voila.app import Voila

    token = os.environ.pop(TOKEN_ENV, None)  # before any kernel inherits the environment
    _scrub_all_logs()

    class Forbidden(tornado.web.RequestHandler):
        def prepare(self) -> None:
            raise tornado.web.HTTPError(403, "host not allowed")

    class LoopbackApplication(tornado.web.Application):
        port = 0

        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            if not host_allowed(request.host, self.port):
                return self.get_handler_delegate(request, Forbidden)
            return super().find_handler(request, **kwargs)

    class StudioVoila(Voila):
        kernel_grace = Float(KERNEL_GRACE_S, config=True,
                             help="seconds after a page's last websocket closed before its "
                                  "kernel is shut down")

        def start(self) -> None:  # Voila.start, with the application and kernel hooks
            self.connection_dir = tempfile.mkdtemp(prefix="voila_", dir=self.connection_dir_root)
            settings = self.init_settings()
            settings["xsrf_cookie_kwargs"] = {"samesite": "Strict"}
            settings["log_function"] = _access_log
            self.app = LoopbackApplication(**settings)
            self.app.port = self.port
            self.app.settings.update(self.tornado_settings)
            self.app.add_handlers(".*$", [_same_origin_shutdown(h) for h in
                                          self.init_handlers()])
            self._harden_kernels()
            self.listen()

        def _harden_kernels(self) -> None:
            km = self.kernel_manager
            notify = km.notify_disconnect
            grace = self.kernel_grace

            async def check(kernel_id: str) -> None:
                if kernel_id in km and km._kernel_connections.get(kernel_id, 0) <= 0:
                    self.log.info("page of kernel %s closed: shutting it down", kernel_id)
                    with contextlib.suppress(Exception):
                        await km.shutdown_kernel(kernel_id)

            def notify_disconnect(kernel_id: str) -> None:
                notify(kernel_id)
                if km._kernel_connections.get(kernel_id, 0) <= 0:
                    IOLoop.current().call_later(grace, check, kernel_id)

            km.notify_disconnect = notify_disconnect
            start_kernel = km.start_kernel

            async def start_scrubbed(*args: Any, env: dict[str, str] | None = None,
                                     **kwargs: Any) -> Any:
                # Voila hands the page's URL (query string, token included) to the kernel
                # in its environment; papermill runs started there would inherit it
                if env:
                    env = {k: scrub(v) if isinstance(v, str) else v for k, v in env.items()}
                return await ensure_async(start_kernel(*args, env=env, **kwargs))

            km.start_kernel = start_scrubbed

    # run by hand without a token in the environment: Voila makes one up (never no auth)
    extra: dict[str, Any] = {"token": token} if token is not None else {"auto_token": True}
    from traitlets.config import Config

    config = Config()
    config.IdentityProvider.cookie_options = {"samesite": "Strict"}
    StudioVoila.launch_instance(argv=argv, config=config, **extra)


if __name__ == "__main__":
    launch(sys.argv[1:])
