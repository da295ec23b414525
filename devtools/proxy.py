"""A throwaway caching reverse proxy (Debian's nginx) in front of local servers, for the CDN tests and benchmark.

``CachingProxy.start({"name": upstream_port, ...})`` writes an nginx configuration in a temporary folder (every
path nginx writes is inside it, so it runs without root), listens on one free port per upstream and caches like
a CDN that honours the origin's headers: ``proxy_cache`` keyed on the URL alone (cookies are not part of the key,
as on most CDNs), ``proxy_cache_valid 200 10m`` as the site-wide rule a careless set-up would add (nginx still
never stores a response that is ``private``, ``no-store`` or sets a cookie), and an ``X-Cache-Status`` header
(MISS, HIT, EXPIRED, BYPASS...) on every answer. ``stop()`` ends it. nginx comes from ``apt-get install nginx``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.services import free_port

NGINX = "/usr/sbin/nginx"

CONFIG = """\
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
  log_format cache '$server_port $request_method $request_uri $status $upstream_cache_status';
  access_log {folder}/access.log cache;
  client_body_temp_path {folder}/client_body;
  proxy_temp_path {folder}/proxy_temp;
  fastcgi_temp_path {folder}/fastcgi_temp;
  uwsgi_temp_path {folder}/uwsgi_temp;
  scgi_temp_path {folder}/scgi_temp;
  proxy_cache_path {folder}/cache levels=1:2 keys_zone=pages:10m max_size=256m inactive=60m use_temp_path=off;
  keepalive_timeout 30;
{servers}
}}
"""

SERVER = """\
  upstream {name}_origin {{ server 127.0.0.1:{upstream}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://{name}_origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_cache pages;
      proxy_cache_valid 200 10m;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
"""


@dataclass
class CachingProxy:
    folder: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    _owned: bool = field(default=True)

    @classmethod
    def start(cls, upstreams: dict[str, int], folder: Path | None = None) -> CachingProxy:
        if not Path(NGINX).exists():
            raise RuntimeError(f"{NGINX} is missing: apt-get install nginx (.ci/run does)")
        owned = folder is None
        folder = Path(tempfile.mkdtemp(prefix="tailor-nginx-")) if folder is None else folder
        ports = {name: free_port() for name in upstreams}
        servers = "".join(
            SERVER.format(name=name, upstream=upstream, port=ports[name]) for name, upstream in upstreams.items()
        )
        # As root, nginx's workers would switch to "nobody", who cannot write in a private temporary folder.
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(CONFIG.format(folder=folder, servers=servers, user=user))
        process = subprocess.Popen(
            [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "stderr.log").open("wb"),
        )
        proxy = cls(folder, ports, process, owned)
        proxy._wait_listening()
        return proxy

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log()}")
            try:
                for port in self.ports.values():
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within 15 s:\n{self.log()}")

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.folder / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def cache_statuses(self, name: str) -> list[tuple[str, str, int, str]]:
        """(method, URI, status, cache status) of every request nginx has answered for ``name``, oldest first."""
        path = self.folder / "access.log"
        rows = []
        for line in path.read_text().splitlines() if path.exists() else []:
            port, method, uri, status, cache = line.split(" ")
            if int(port) == self.ports[name]:
                rows.append((method, uri, int(status), cache))
        return rows

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: workers finish their requests
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._owned:
            shutil.rmtree(self.folder, ignore_errors=True)
