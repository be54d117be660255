#!/usr/bin/env python3
"""Run the README's five-minute tour as written, against a fresh kling-mock (CI runs this).

The commands are read from the README's "Five-minute tour" section (its ```sh blocks), never
copied here. The block marked `# terminal 1` (starting the server) is replaced by a server this
script starts itself on a free port, with short task timings so the tour's poll loop ends in
about a second; the tour's fixed ports (8080 for the mock, 9000 for the callback receiver) are
rewritten to free ones, which is the only change made to the commands. Then it checks what a
reader would see: the task succeeded, rain.wav is a WAV file, fox.mp4 an MP4, the receiver printed the callbacks
of tour-2, and the fault answered 429 / 1303 once.

Usage: scripts/readme_tour.py [--binary target/release/kling-mock]
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tour_blocks(readme):
    start = readme.index("\n## Five-minute tour")
    end = readme.index("\n## ", start + 5)
    blocks = re.findall(r"```sh\n(.*?)```", readme[start:end], re.S)
    if not blocks:
        sys.exit("readme-tour: no ```sh blocks in the Five-minute tour")
    return blocks


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default=os.path.join(REPO, "target", "release", "kling-mock"))
    args = p.parse_args()
    readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    blocks = tour_blocks(readme)
    server_blocks = [b for b in blocks if b.lstrip().startswith("# terminal 1")]
    if len(server_blocks) != 1 or "cargo run --release -p kling-mock" not in server_blocks[0]:
        sys.exit("readme-tour: the tour must start the server in one `# terminal 1` block")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLING_MOCK_")}
    mock = subprocess.Popen(
        [args.binary, "--bind", "127.0.0.1:0", "--timing", "text-to-audio=0s/300ms",
         "--timing", "text2video=0s/300ms"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = mock.stdout.readline()  # the ready line, never a fixed sleep
        if not line.startswith("kling-mock listening on http://127.0.0.1:"):
            sys.exit(f"readme-tour: no ready line from {args.binary}: {line!r}")
        port = line.strip().rsplit(":", 1)[1]
        rport = str(free_port())
        script = "\n".join(b for b in blocks if b not in server_blocks)
        script = script.replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace("9000", rport)
        t0 = time.monotonic()
        r = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=300)
        out = r.stdout + r.stderr
        print(out)
        print(f"readme-tour: the tour ran in {time.monotonic() - t0:.1f} s, exit {r.returncode}")
        wav = open(os.path.join(REPO, "rain.wav"), "rb").read(12) if os.path.exists(
            os.path.join(REPO, "rain.wav")) else b""
        mp4_path = os.path.join(REPO, "fox.mp4")
        mp4 = open(mp4_path, "rb").read() if os.path.exists(mp4_path) else b""
        expectations = [
            ("every command succeeded", r.returncode == 0),
            ("the create answered code 0 with tour-1",
             '"code":0' in out and '"external_task_id":"tour-1"' in out),
            ("the polled task succeeded with a url_wav", '"task_status": "succeed"' in out
             and '"url_wav"' in out),
            ("rain.wav is a WAV file", wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"),
            ("fox.mp4 is an MP4 file of a few hundred KB",
             mp4[4:8] == b"ftyp" and b"avc1" in mp4[:4096] and len(mp4) > 50_000),
            ("the receiver printed tour-2's succeed callback",
             re.search(r"callback: task \d+ succeed \(external_task_id tour-2\)", out)),
            ("the receiver printed the statuses in order",
             [m for m in re.findall(r"callback: task \d+ (\w+) \(external_task_id tour-2\)", out)]
             == ["submitted", "processing", "succeed"]),
            ("the fault answered 429 / 1303", '"code":1303' in out and "HTTP 429" in out),
            ("the request after it was normal", re.search(r"^HTTP 200$", out, re.M)),
        ]
        failed = [name for name, ok in expectations if not ok]
        for name, ok in expectations:
            print(f"readme-tour: {'ok  ' if ok else 'FAIL'} {name}")
        print(f"readme-tour: {len(expectations) - len(failed)} passed, {len(failed)} failed")
        sys.exit(1 if failed else 0)
    finally:
        mock.kill()
        for f in ("rain.wav", "tour-1.json", "fox.mp4"):
            try:
                os.remove(os.path.join(REPO, f))
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    main()
