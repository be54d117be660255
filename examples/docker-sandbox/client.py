#!/usr/bin/env python3
"""A client of the sandbox, and its callback receiver, in one small program (stdlib only).

In the compose sandbox it runs as the `client` service (`docker compose --profile demo run --rm
client`): it reaches the mock by its service name, and the mock reaches its receiver by the
client's own name. Run on the host, point it at the published port and give a callback host the
mock can reach (`host.docker.internal` from the container, with compose's `extra_hosts`):

    KLING_BASE_URL=http://localhost:8080 CALLBACK_HOST=host.docker.internal python3 client.py

It signs a JWT the way Kling asks (HS256, iss = access key), creates a sound-effect task with a
`callback_url`, polls it to the end, downloads its WAV, waits for the callback, and prints what it
saw. Exit status 0 only if all of that worked.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(access_key, secret_key):
    """Kling's recipe: HS256, iss = access key, valid 30 minutes, nbf 5 s in the past."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"iss": access_key, "exp": now + 1800, "nbf": now - 5}).encode())
    sig = hmac.new(secret_key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def request(method, url, body=None, headers=None, timeout=10):
    """(status, headers, body bytes); an HTTP error status is an answer, not an exception."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Receiver:
    """Collects callback bodies POSTed to it; `wait_for(pred, timeout)` waits for a match."""

    def __init__(self, listen="0.0.0.0", port=9000):
        self.bodies = []
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.end_headers()
                with outer.cond:
                    outer.bodies.append(json.loads(raw))
                    outer.cond.notify_all()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((listen, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, pred, timeout):
        with self.cond:
            ok = self.cond.wait_for(lambda: any(pred(b) for b in self.bodies), timeout)
            return ok, list(self.bodies)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def main():
    base = os.environ.get("KLING_BASE_URL", "http://kling-mock:8080").rstrip("/")
    ak = os.environ.get("KLING_ACCESS_KEY", "team-ak")
    sk = os.environ.get("KLING_SECRET_KEY", "team-sk-change-me-0123456789abcdef")
    receiver = Receiver(os.environ.get("CALLBACK_LISTEN", "0.0.0.0"),
                        int(os.environ.get("CALLBACK_PORT", "9000")))
    hook = f"http://{os.environ.get('CALLBACK_HOST', socket.gethostname())}:{receiver.port}/hook"
    auth = {"Authorization": f"Bearer {token(ak, sk)}"}

    status, _, raw = request("POST", f"{base}/v1/audio/text-to-audio",
                             {"prompt": "rain on a tin roof", "duration": 3,
                              "callback_url": hook}, auth)
    created = json.loads(raw)
    if status != 200 or created["code"] != 0:
        sys.exit(f"create: HTTP {status}: {created}")
    task_id = created["data"]["task_id"]
    print(f"created {task_id}, callbacks to {hook}")

    statuses = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, _, raw = request("GET", f"{base}/v1/audio/text-to-audio/{task_id}", headers=auth)
        data = json.loads(raw)["data"]
        if not statuses or statuses[-1] != data["task_status"]:
            statuses.append(data["task_status"])
        if data["task_status"] in ("succeed", "failed"):
            break
        time.sleep(0.5)
    print("statuses: " + " -> ".join(statuses))
    if statuses[-1] != "succeed":
        sys.exit(f"task {task_id} did not succeed: {data.get('task_status_msg')}")

    url = data["task_result"]["audios"][0]["url_wav"]
    status, headers, wav = request("GET", url)
    if status != 200 or wav[:4] != b"RIFF":
        sys.exit(f"media {url}: HTTP {status}, {wav[:16]!r}")
    print(f"downloaded {url}: {len(wav)} bytes of {headers.get('Content-Type')}")

    ok, bodies = receiver.wait_for(
        lambda b: b.get("task_id") == task_id and b.get("task_status") == "succeed", 30)
    receiver.close()
    if not ok:
        sys.exit(f"no succeed callback for {task_id} (got {len(bodies)} callbacks)")
    print(f"callback received: {task_id} succeed ({len(bodies)} callbacks in all)")


if __name__ == "__main__":
    main()
