"""A real HTTP(S) webhook receiver on 127.0.0.1, in the test process (a thread per request).

``script`` is a list of behaviours taken one per request (then ``default``): an int status, or
a dict ``{"status", "sleep", "headers", "body", "drip"}``. Every request is kept in ``requests``.
"""
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int = 0
    at: float = field(default_factory=time.monotonic)


class Receiver:
    def __init__(self, *, default=200, ssl_context: ssl.SSLContext | None = None):
        self.script: list = []
        self.default = default
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body, self.client_address[1]))
                    behaviour = receiver.script.pop(0) if receiver.script else receiver.default
                if isinstance(behaviour, int):
                    behaviour = {"status": behaviour}
                if behaviour.get("drip"):
                    # Headers a byte at a time, each well within a per-read timeout.
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(behaviour["drip"])
                    except OSError:
                        pass
                    return
                time.sleep(behaviour.get("sleep", 0))
                payload = behaviour.get("body", b"ok")
                try:
                    self.send_response(behaviour.get("status", 200))
                    for name, value in behaviour.get("headers", {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass
                if behaviour.get("hang_up"):  # close without saying so (an idle timeout on its side)
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self) -> list[dict]:
        import json

        return [json.loads(r.body) for r in self.requests]
