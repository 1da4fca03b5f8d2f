"""A throw-away HTTP server on 127.0.0.1 for download tests."""
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, Tuple


class FileServer:
    """Serves ``routes[path] = (body, mode)``; mode ``"ok"`` or ``"truncate"`` (half the promised body)."""

    def __init__(self):
        self.routes: Dict[str, Tuple[bytes, str]] = {}
        self.hits: Dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, mode = server.routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if mode == "ok" else body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(files: Dict[str, bytes]) -> Iterator[FileServer]:
    """A :class:`FileServer` serving ``files`` (route -> body) for the duration of a ``with`` block."""
    server = FileServer()
    server.routes.update({route: (body, "ok") for route, body in files.items()})
    try:
        yield server
    finally:
        server.stop()
