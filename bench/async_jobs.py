"""Async submit latency and callback delay against a real `phota serve` process.

Submits async /generate jobs (test key, 1K, urls mode) with a callback_url pointing at a
receiver on loopback, and measures the submit round trip (p50/p99) and the delay from the
job's completion (its finished_at) to the callback arriving. A plain GET / in the same run is
the baseline for what any request costs.

Run: .venv/bin/python -m bench.async_jobs
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from bench._report import write_section
from bench._server import phota_server
from bench.api import pct

JOBS = 60


def main() -> None:
    arrivals: dict[str, float] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrivals[json.loads(body)["job_id"]] = time.time()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

    submit: list[float] = []
    root: list[float] = []
    delays: list[float] = []
    try:
        with phota_server() as served, httpx.Client(timeout=60) as c:
            base, headers, port = served.base, served.headers, served.port
            for _ in range(JOBS):
                t0 = time.perf_counter()
                c.get(f"{base}/", headers=headers)
                root.append((time.perf_counter() - t0) * 1000)
            handles = []
            for i in range(JOBS):
                body = {"prompt": f"a lighthouse {i}", "async": True, "response_mode": "urls", "callback_url": hook}
                t0 = time.perf_counter()
                r = c.post(f"{base}/generate", json=body, headers=headers)
                submit.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 202, r.text
                handles.append(r.json())
                time.sleep(0.05)  # one job at a time: the delay measured is the dispatcher's, not a queue's
            deadline = time.monotonic() + 120
            for handle in handles:
                while handle["job_id"] not in arrivals:
                    assert time.monotonic() < deadline, "callbacks missing"
                    time.sleep(0.01)
                job = c.get(f"http://127.0.0.1:{port}{handle['poll_url']}", headers=headers).json()
                finished = datetime.fromisoformat(job["finished_at"]).timestamp()
                delays.append((arrivals[handle["job_id"]] - finished) * 1000)
    finally:
        receiver.shutdown()

    body = f"""
One `phota serve` process on SQLite; client and callback receiver in the bench process on the same
2 cores. {JOBS} async /generate submits (test key, 1K, urls mode, callback_url on loopback).
Targets: submit p50 ≤ 15 ms; job completion → callback received ≤ 1 s.

| measurement | p50 ms | p99 ms | max ms |
|---|---:|---:|---:|
| async submit → 202 | {pct(submit, 0.5):.1f} | {pct(submit, 0.99):.1f} | {max(submit):.1f} |
| job finished_at → callback received | {pct(delays, 0.5):.1f} | {pct(delays, 0.99):.1f} | {max(delays):.1f} |
| baseline: GET / (key check) | {pct(root, 0.5):.1f} | {pct(root, 0.99):.1f} | {max(root):.1f} |

Submit costs {statistics.median(submit) - statistics.median(root):.1f} ms (p50) more than the key check:
validation, the job row, the worker wake-up.
"""
    write_section("async_jobs", "Async submit and callbacks (bench/async_jobs.py)", body)


if __name__ == "__main__":
    main()
