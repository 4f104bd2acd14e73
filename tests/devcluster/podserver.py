"""A container for the kubelet tests: an HTTP server on `--port` whose health the test steers.

GET /health/live and /health/ready answer 200 unless the file `$STEER_DIR/<live|ready>-fail` exists
(then 500); any other path answers `$GREETING` and the pod's name. `$CRASH_AFTER` seconds set: the
process exits 3 after that long. `$CHILD` set: it forks a sleeping child first (a process tree),
whose pid it writes to `$STEER_DIR/child.pid`.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

steer = Path(os.environ.get("STEER_DIR", "/nonexistent"))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        if self.path.startswith("/health/"):
            failing = (steer / f"{self.path.removeprefix('/health/')}-fail").exists()
            body, code = (b"down", 500) if failing else (b"up", 200)
        else:
            body, code = f"{os.environ.get('GREETING', 'hello')} {self.path}".encode(), 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    port = int(sys.argv[sys.argv.index("--port") + 1])
    if os.environ.get("CHILD"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        (steer / "child.pid").write_text(str(child.pid))
    if os.environ.get("CRASH_AFTER"):
        threading.Timer(float(os.environ["CRASH_AFTER"]), lambda: os._exit(3)).start()
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
