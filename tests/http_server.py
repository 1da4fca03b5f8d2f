"""Throw-away HTTP servers on 127.0.0.1 for download tests: plain files, and a Hugging Face Hub's file routes."""
import hashlib
import threading
from pathlib import Path
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
            def do_GET(self):
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


class HubServer:
    """The file routes of a Hugging Face Hub that ``huggingface_hub.hf_hub_download`` uses, on 127.0.0.1 (its
    ``endpoint``): HEAD and GET of ``/<org>/<name>/resolve/<revision>/<file>`` for the folders in ``repos``, with
    the Hub's headers (``X-Repo-Commit``; ``ETag`` the sha256 of ``.safetensors`` files, as for LFS files, the
    sha1 of others). ``tampered[(repo, file)]`` is served instead of the file, under the file's own ETag."""

    def __init__(self, repos: Dict[str, Path]):
        self.repos = repos
        self.tampered: Dict[Tuple[str, str], bytes] = {}
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, with_body: bool):
                server.hits += 1
                parts = self.path.split("?")[0].strip("/").split("/")
                repo, rest = "/".join(parts[:2]), parts[2:]
                path = server.repos[repo] / "/".join(rest[2:]) if repo in server.repos and rest[:1] == ["resolve"] \
                    else None
                if path is None or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                body = path.read_bytes()
                digest = hashlib.sha256(body).hexdigest() if path.suffix == ".safetensors" \
                    else hashlib.sha1(body).hexdigest()
                body = server.tampered.get((repo, path.name), body)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{digest}"')
                self.send_header("X-Repo-Commit", hashlib.sha1(repo.encode()).hexdigest())
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
