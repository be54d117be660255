#!/usr/bin/env python3
"""The docker image, used as a team would use it (run by scripts/docker-smoke.sh; stdlib only).

Builds the image, starts it with a control token, the example config file and a state volume,
waits for its ready line, then from the host: a token, a create with a callback, a query (by
task id and by external id), the media files downloaded and checked, the callback delivered to a
receiver on the host, /__mock/health and the control token, the JSON logs, the HEALTHCHECK
reaching `healthy`, `docker stop` (SIGTERM) ending it cleanly within the grace period, and a
second container restoring the state file from the volume. Any failure exits non-zero.

Every container runs with `--network host` and binds 127.0.0.1 on a free port: all traffic of
this check stays on loopback (the CI machines allow no other address), and nothing assumes that
port 8080 is free.
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "docker-sandbox")
sys.path.insert(0, EXAMPLE)
from client import Receiver, request, token  # noqa: E402  (the example's own helpers)

# The team account of the example's mock.toml: the smoke uses the file as a team would.
ACCESS_KEY, SECRET_KEY = "team-ak", "team-sk-change-me-0123456789abcdef"
CONTROL_TOKEN = "smoke-control-token"
GRACE_S = 10  # docker stop -t: the server needs at most 5 s for callbacks, plus the save


def log(msg):
    print(f"docker-smoke: {msg}", flush=True)


class Failure(Exception):
    pass


PASSED = []


def check(cond, what):
    if not cond:
        raise Failure(what)
    PASSED.append(what)
    log(f"ok   {what}")


def docker(*args, check_rc=True, timeout=None):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise Failure(f"docker {' '.join(args[:3])} ... failed ({r.returncode}): {r.stderr.strip()}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(method, base, path, body=None):
    status, _, raw = request(method, base + path, body,
                             {"Authorization": f"Bearer {token(ACCESS_KEY, SECRET_KEY)}"})
    try:
        env = json.loads(raw)
    except ValueError:
        raise Failure(f"{method} {path}: not JSON ({status}): {raw[:200]!r}")
    return status, env


class Container:
    """One `docker run -d` of the image, on the host's network, bound to a free loopback port."""

    def __init__(self, image, name, volume, extra_args=()):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [
            "run", "-d", "--name", name, "--network", "host",
            "-v", f"{volume}:/var/lib/kling-mock",
            "-v", f"{os.path.join(EXAMPLE, 'mock.toml')}:/config/mock.toml:ro",
            "-e", "KLING_MOCK_CONFIG=/config/mock.toml",
            "-e", f"KLING_MOCK_BIND=127.0.0.1:{self.port}",
            "-e", f"KLING_MOCK_PUBLIC_URL={self.base}",
            "-e", f"KLING_MOCK_CONTROL_TOKEN={CONTROL_TOKEN}",
            "-e", "KLING_MOCK_STATE_FILE=/var/lib/kling-mock/state.db",
            # No periodic save within this check: what the second container finds was written
            # by the first one's SIGTERM.
            "-e", "KLING_MOCK_STATE_INTERVAL=1h",
            *extra_args, image,
            # Quick tasks and retries for a check; the file's other settings stay.
            "--timing", "text-to-audio=0s/300ms", "--timing", "text2video=0s/300ms",
            "--timing", "image-generation=0s/300ms",
            "--callback-backoff", "200ms",
        ]
        self.started = time.monotonic()
        docker(*args)

    def logs(self):
        r = docker("logs", self.name, check_rc=False)
        return r.stdout, r.stderr

    def state(self, field):
        return docker("inspect", "-f", "{{" + field + "}}", self.name).stdout.strip()

    def wait_ready(self, timeout=60):
        """Seconds from `docker run` to the ready line on stdout (polled, never a fixed sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out, err = self.logs()
            for line in out.splitlines():
                if line.startswith("kling-mock listening on "):
                    check(line.split()[-1] == self.base,
                          f"{self.name}: ready line names {self.base}")
                    return time.monotonic() - self.started
            if self.state(".State.Running") != "true":
                raise Failure(f"{self.name} exited before its ready line:\n{out}\n{err}")
            time.sleep(0.05)
        raise Failure(f"{self.name}: no ready line in {timeout} s")

    def stop(self):
        """`docker stop` (SIGTERM, then SIGKILL after the grace period): (seconds, exit code)."""
        t0 = time.monotonic()
        docker("stop", "-t", str(GRACE_S), self.name, timeout=GRACE_S + 30)
        return time.monotonic() - t0, int(self.state(".State.ExitCode"))


def poll_task(base, path, timeout=30):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        status, env = api("GET", base, path)
        if status != 200 or env.get("code") != 0:
            raise Failure(f"GET {path}: {status} {env}")
        st = env["data"]["task_status"]
        if not seen or seen[-1] != st:
            seen.append(st)
        if st in ("succeed", "failed"):
            return env["data"], seen
        time.sleep(0.1)
    raise Failure(f"GET {path}: not finished in {timeout} s (statuses {seen})")


def download(url):
    status, headers, raw = request("GET", url)
    if status != 200:
        raise Failure(f"GET {url}: {status} {raw[:200]!r}")
    return headers, raw


def check_media(audio, base, duration_s):
    for key in ("url_wav", "url_mp3"):
        check(audio[key].startswith(base + "/"), f"{key} starts with the public URL {base}")
    headers, wav = download(audio["url_wav"])
    check(wav[:4] == b"RIFF" and wav[8:12] == b"WAVE", "url_wav serves a RIFF/WAVE file")
    # PCM 16-bit mono at 24 kHz: the declared duration in bytes, plus the header.
    data_len = int.from_bytes(wav[40:44], "little") if wav[36:40] == b"data" else None
    check(data_len == int(duration_s * 24000) * 2,
          f"the WAV holds exactly {duration_s} s of 24 kHz 16-bit mono ({data_len} bytes)")
    _, mp3 = download(audio["url_mp3"])
    check(mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0),
          f"url_mp3 serves an MP3 ({len(mp3)} bytes)")
    return hashlib.sha256(wav).hexdigest()


def wait_healthy(c, timeout):
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = c.state(".State.Health.Status")
        if status == "healthy":
            return time.monotonic() - c.started
        if status == "unhealthy":
            break
        time.sleep(0.5)
    log_ = c.state("json .State.Health.Log")
    raise Failure(f"{c.name}: HEALTHCHECK is {status!r}, not healthy: {log_}")


def run(image, build):
    if build:
        t0 = time.monotonic()
        r = subprocess.run(["docker", "build", "--network", "host", "-t", image, REPO],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.stdout.write(r.stdout[-20000:] + r.stderr[-5000:])
            raise Failure("docker build failed")
        lines = r.stdout.splitlines()
        cook = next((i for i, ln in enumerate(lines) if "cargo chef cook" in ln), None)
        deps = ("reused from the layer cache"
                if cook is not None and "Using cache" in " ".join(lines[cook + 1:cook + 2])
                else "built")
        log(f"built {image} in {time.monotonic() - t0:.1f} s "
            f"({r.stdout.count('Using cache')} cached steps; dependencies {deps})")
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)
    log(f"image size: {size / 1e6:.1f} MB")

    # The image: the server alone, non-root, with its HEALTHCHECK and port.
    cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image).stdout)
    check(cfg.get("User") == "10001", "the image runs as the non-root user 10001")
    check("8080/tcp" in (cfg.get("ExposedPorts") or {}), "the image exposes 8080")
    check((cfg.get("Healthcheck") or {}).get("Test") == ["CMD", "kling-mock", "--healthcheck"],
          "the image has its HEALTHCHECK")
    bins = docker("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image,
                  "-c", "ls /usr/local/bin").stdout.split()
    check(bins == ["kling-mock"], f"the image carries the server alone ({bins})")
    version = docker("run", "--rm", "--network", "none", image, "--version").stdout.strip()
    check(version.startswith("kling-mock "), f"`docker run IMAGE --version`: {version}")

    tag = f"kling-smoke-{os.getpid()}"
    volume = f"{tag}-state"
    receiver = Receiver("127.0.0.1", 0)
    containers = []
    docker("volume", "create", volume)
    try:
        # ---- the first container: a create, its media, its callback ----
        a = Container(image, f"{tag}-a", volume)
        containers.append(a)
        ready_a = a.wait_ready()
        log(f"startup: ready line {ready_a:.2f} s after docker run")

        status, _, raw = request("GET", a.base + "/__mock/health")
        check(status == 200, f"/__mock/health answers 200 ({raw[:80]!r})")
        status, _, _ = request("GET", a.base + "/__mock/state")
        check(status == 401, "the control plane refuses a request without the control token")
        status, _, raw = request("GET", a.base + "/__mock/state",
                              headers={"Authorization": f"Bearer {CONTROL_TOKEN}"})
        check(status == 200, "the control plane answers with the control token")
        accounts = json.dumps(json.loads(raw)["data"]["accounts"])
        check("team-ak" in accounts and "ci-ak" in accounts,
              "the accounts of the mounted config file are the mock's")

        hook = f"http://127.0.0.1:{receiver.port}/hook"
        status, env = api("POST", a.base, "/v1/audio/text-to-audio", {
            "prompt": "rain on a tin roof, docker smoke", "duration": 3,
            "external_task_id": "docker-smoke-1", "callback_url": hook})
        check(status == 200 and env.get("code") == 0, f"create answers code 0 ({env.get('message')})")
        task_id = env["data"]["task_id"]
        check(env["data"]["task_status"] == "submitted", f"task {task_id} starts submitted")
        check(env["data"].get("task_info", {}).get("external_task_id") == "docker-smoke-1",
              "the create echoes external_task_id")

        data, seen = poll_task(a.base, f"/v1/audio/text-to-audio/{task_id}")
        check(data["task_status"] == "succeed", f"the task succeeds (statuses seen: {seen})")
        by_ext, _ = poll_task(a.base, "/v1/audio/text-to-audio/docker-smoke-1")
        check(by_ext["task_id"] == task_id, "the query by external_task_id finds the same task")
        audio = data["task_result"]["audios"][0]
        wav_sha = check_media(audio, a.base, 3)

        # A video: a text2video task and its MP4, fetched whole and as a range.
        status, env = api("POST", a.base, "/v1/videos/text2video", {
            "model_name": "kling-v2-6", "mode": "pro", "sound": "on", "duration": "5",
            "prompt": "a fox in the snow, docker smoke"})
        check(status == 200 and env.get("code") == 0,
              f"a text2video create answers code 0 ({env.get('message')})")
        vdata, vseen = poll_task(a.base, f"/v1/videos/text2video/{env['data']['task_id']}")
        check(vdata["task_status"] == "succeed", f"the video task succeeds (statuses seen: {vseen})")
        video = vdata["task_result"]["videos"][0]
        check(video["url"].startswith(a.base + "/") and video["duration"] == "5",
              f"the video's url is on the public URL and lasts 5 s ({video['duration']})")
        vheaders, mp4 = download(video["url"])
        check(mp4[4:8] == b"ftyp" and b"avc1" in mp4[:4096] and b"mp4a" in mp4[:8192],
              f"the url serves an MP4 with H.264 video and an audio track ({len(mp4)} bytes)")
        check(vheaders.get("Content-Type") == "video/mp4" and vheaders.get("ETag"),
              "the MP4 comes as video/mp4 with an ETag")
        rstatus, rheaders, part = request("GET", video["url"], headers={"Range": "bytes=0-99"})
        check(rstatus == 206 and part == mp4[:100]
              and rheaders.get("Content-Range") == f"bytes 0-99/{len(mp4)}",
              f"a Range request answers 206 with those bytes ({rstatus})")

        # Pictures: an image generation task of two 1k 3:2 PNGs.
        status, env = api("POST", a.base, "/v1/images/generations", {
            "prompt": "a lighthouse, docker smoke", "n": 2, "aspect_ratio": "3:2"})
        check(status == 200 and env.get("code") == 0,
              f"an image generation create answers code 0 ({env.get('message')})")
        idata, iseen = poll_task(a.base, f"/v1/images/generations/{env['data']['task_id']}")
        check(idata["task_status"] == "succeed", f"the image task succeeds (statuses seen: {iseen})")
        pngs = [download(i["url"]) for i in idata["task_result"]["images"]]
        sizes = [(int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")) for _, b in pngs]
        check(len(pngs) == 2 and all(b[:8] == b"\x89PNG\r\n\x1a\n" for _, b in pngs)
              and sizes == [(1248, 832)] * 2 and pngs[0][1] != pngs[1][1],
              f"the urls serve two different 1248x832 PNGs ({sizes})")

        ok, bodies = receiver.wait_for(
            lambda b: b.get("task_id") == task_id and b.get("task_status") == "succeed", 20)
        check(ok, f"the succeed callback reached the receiver on the host ({len(bodies)} bodies)")

        healthy_after = wait_healthy(a, timeout=45)
        log(f"ok   the HEALTHCHECK reaches healthy ({healthy_after:.1f} s after docker run)")

        # The compose example's client, run on the host against this container.
        r = subprocess.run([sys.executable, os.path.join(EXAMPLE, "client.py")],
                           capture_output=True, text=True, timeout=120, env={
                               **os.environ, "KLING_BASE_URL": a.base,
                               "CALLBACK_LISTEN": "127.0.0.1", "CALLBACK_HOST": "127.0.0.1",
                               "CALLBACK_PORT": "0"})
        sys.stdout.write(r.stdout)
        check(r.returncode == 0, f"the example client works against the image {r.stderr.strip()}")

        # A task still in flight at the stop: moved by hand only, so it waits for the restart.
        ctl = {"Authorization": f"Bearer {CONTROL_TOKEN}"}
        status, _, raw = request("PUT", a.base + "/__mock/lifecycle/text-to-audio",
                                 {"submitted": {"min_ms": 0, "max_ms": 0},
                                  "processing": {"min_ms": 0, "max_ms": 0},
                                  "progress": {"mode": "manual"}}, ctl)
        check(status == 200, f"PUT /__mock/lifecycle: text-to-audio moves by hand ({raw[:120]!r})")
        status, env = api("POST", a.base, "/v1/audio/text-to-audio", {
            "prompt": "a door closing, in flight across a restart", "duration": 4,
            "external_task_id": "docker-smoke-2", "callback_url": hook})
        check(status == 200 and env.get("code") == 0, "a second task is created before the stop")
        in_flight = env["data"]["task_id"]

        secs, code = a.stop()
        check(code == 0, f"SIGTERM: a clean exit, code 0 (got {code})")
        check(secs < GRACE_S, f"SIGTERM: stopped in {secs:.2f} s, within the {GRACE_S} s grace period")
        _, err = a.logs()
        try:
            messages = [json.loads(ln)["fields"]["message"] for ln in err.splitlines() if ln.strip()]
        except (ValueError, KeyError) as e:
            raise Failure(f"a log line is not a JSON object with fields.message ({e}):\n{err}")
        check("state saved" in messages,
              f"every log line is a JSON object, the last ones: {messages[-2:]}")

        # ---- the second container: the state file from the volume ----
        b = Container(image, f"{tag}-b", volume)
        containers.append(b)
        ready_b = b.wait_ready()
        log(f"restart from the state file: ready line {ready_b:.2f} s after docker run")
        data_b, _ = poll_task(b.base, f"/v1/audio/text-to-audio/{task_id}")
        check(data_b["task_status"] == "succeed" and data_b["created_at"] == data["created_at"],
              "the second container restored the task from the volume")
        audio_b = data_b["task_result"]["audios"][0]
        check(audio_b["url_wav"].rsplit("/", 1)[1] == audio["url_wav"].rsplit("/", 1)[1],
              "the restored task keeps its media file names")
        check(check_media(audio_b, b.base, 3) == wav_sha,
              "the restored media file is byte for byte the one served before")
        status, env = api("GET", b.base, "/v1/audio/text-to-audio?pageNum=1&pageSize=10")
        ids = [t["task_id"] for t in env.get("data") or []]
        check(ids[0] == in_flight and task_id in ids, f"the restored tasks are listed, newest first ({ids})")
        status, env = api("GET", b.base, f"/v1/audio/text-to-audio/{in_flight}")
        check(env["data"]["task_status"] == "submitted",
              "the task in flight at the stop was saved by SIGTERM and is still in flight")
        status, _, raw = request("POST", b.base + f"/__mock/tasks/{in_flight}/advance",
                                 {"to": "succeed"}, ctl)
        check(status == 200, f"the second container's control plane finishes it ({raw[:120]!r})")
        data_2, _ = poll_task(b.base, f"/v1/audio/text-to-audio/{in_flight}")
        check_media(data_2["task_result"]["audios"][0], b.base, 4)
        ok, _ = receiver.wait_for(
            lambda b_: b_.get("task_id") == in_flight and b_.get("task_status") == "succeed", 20)
        check(ok, "its callback_url survived the restart: the succeed callback arrived")
        secs, code = b.stop()
        check(code == 0 and secs < GRACE_S, f"the second container stops cleanly too ({secs:.2f} s)")
    except Exception:
        for c in containers:
            out, err = c.logs()
            sys.stdout.write(f"---- logs of {c.name} ----\n{out}{err[-8000:]}\n")
        raise
    finally:
        for c in containers:
            docker("rm", "-f", c.name, check_rc=False)
        docker("volume", "rm", "-f", volume, check_rc=False)
        receiver.close()
    log(f"passed: image {size / 1e6:.1f} MB, ready in {ready_a:.2f} s, "
        f"restored in {ready_b:.2f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="kling-mock:smoke")
    p.add_argument("--no-build", action="store_true", help="use the image as it is")
    args = p.parse_args()
    try:
        run(args.image, build=not args.no_build)
    except Failure as e:
        log(f"FAILED: {e}")
        print(f"docker-smoke: {len(PASSED)} passed, 1 failed", flush=True)
        sys.exit(1)
    # The plain closing line CI log readers count.
    print(f"docker-smoke: {len(PASSED)} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
