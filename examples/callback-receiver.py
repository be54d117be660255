#!/usr/bin/env python3
"""A callback receiver for trying kling-mock by hand (stdlib only): prints one line per callback.

    python3 examples/callback-receiver.py 9000          # listens on 127.0.0.1:9000
    python3 examples/callback-receiver.py 9000 0.0.0.0  # on every interface (e.g. for a container)

Give tasks "callback_url": "http://127.0.0.1:9000/hook". Every status change is POSTed there as
the task object (no envelope); this prints its task id, status and external id, then answers 200.
"""

import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()
        try:
            task = json.loads(raw)
            ext = (task.get("task_info") or {}).get("external_task_id", "")
            print(f"callback: task {task.get('task_id')} {task.get('task_status')}"
                  + (f" (external_task_id {ext})" if ext else ""), flush=True)
        except ValueError:
            print(f"callback: not JSON: {raw[:200]!r}", flush=True)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
