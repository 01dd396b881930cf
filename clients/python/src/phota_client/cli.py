"""``phota-client``: the Phota API from a shell. Server administration stays in ``phota``.

Exit codes: 0 success; 1 the API refused the request (4xx); 2 bad usage; 3 authentication;
4 not found; 5 a training or job ended in failure; 6 the server failed or could not be reached
(5xx, connection, timeout); 7 ``--wait`` gave up; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from phota_client._core import DEFAULT_BASE_URL, Result
from phota_client.client import Phota
from phota_client.errors import (
    APIConnectionError,
    AuthenticationError,
    InternalServerError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    PhotaError,
    ProfileTrainingError,
    WaitTimeoutError,
)
from phota_client.models import JobHandle, ProfileStatusResponse

TRAINING_STAGES = ("VALIDATING", "QUEUING", "IN_PROGRESS", "READY")


class Bar:
    """A one-line progress bar on stderr: redrawn in place on a terminal, one line per change otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, width: int = 24) -> None:
        self.label, self.total, self.width = label, total, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last = ""

    def update(self, done: int, note: str = "") -> None:
        filled = round(self.width * done / self.total) if self.total else self.width
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {note}".rstrip()
        if line == self.last:
            return
        self.last = line
        if self.tty:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last:
            self.stream.write("\n")
            self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="phota-client", description="Phota API client (hosted or self-hosted).")
    p.add_argument("--base-url", default=None, help=f"API base URL; default $PHOTA_BASE_URL or {DEFAULT_BASE_URL}")
    p.add_argument("--api-key", default=None, help="API key; default $PHOTA_API_KEY")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per HTTP request (default 600)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    profiles = sub.add_parser("profiles", help="train, list, inspect and delete profiles")
    psub = profiles.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = psub.add_parser("add", help="train a profile from 5-50 photos (local files or URLs)")
    add.add_argument("photos", nargs="+", metavar="PHOTO")
    add.add_argument("--tier", choices=["standard", "fast"], default=None, help="standard: 10-50 photos, fast: 5-10")
    add.add_argument("--tag", default=None)
    add.add_argument("--wait", action="store_true", help="wait until training ends; print the READY id")
    add.add_argument("--wait-timeout", type=float, default=3600.0)
    lst = psub.add_parser("list", help="list profiles")
    lst.add_argument("--tag", default=None)
    for name, text in (("status", "a profile's status"), ("delete", "delete a profile everywhere")):
        sp = psub.add_parser(name, help=text)
        sp.add_argument("profile_id")
    wait = psub.add_parser("wait", help="wait until a profile is READY")
    wait.add_argument("profile_id")
    wait.add_argument("--wait-timeout", type=float, default=3600.0)
    pic = psub.add_parser("picture", help="save a profile's picture (JPEG)")
    pic.add_argument("profile_id")
    pic.add_argument("-o", "--output", required=True)

    def common(sp: argparse.ArgumentParser, *, n: bool = False, model: bool = False) -> None:
        sp.add_argument("-o", "--output", required=True, help="output file; several images get -2, -3, ... suffixes")
        sp.add_argument("--profile-id", action="append", dest="profile_ids", default=None, metavar="ID")
        sp.add_argument("--format", choices=["png", "jpg"], default=None, dest="output_format")
        sp.add_argument("--scores", action="store_true", help="print per-image identity scores (phota extension)")
        sp.add_argument("--async", action="store_true", dest="submit_async", help="submit as an async job and wait")
        if n:
            sp.add_argument("-n", type=int, default=None, help="number of output images, 1-4")
        if model:
            sp.add_argument("--base-model", default=None)
            sp.add_argument("--aspect-ratio", default=None)
            sp.add_argument("--resolution", default=None)
            sp.add_argument("--quality", default=None)

    e = sub.add_parser("edit", help="edit an image with a prompt")
    e.add_argument("image", metavar="IMAGE")
    e.add_argument("prompt", metavar="PROMPT")
    e.add_argument("--image", action="append", dest="more_images", default=[], help="another input image")
    common(e, n=True, model=True)
    g = sub.add_parser("generate", help="create images from a prompt; place people with [[profile_id]]")
    g.add_argument("prompt", metavar="PROMPT")
    common(g, n=True, model=True)
    en = sub.add_parser("enhance", help="enhance a photo")
    en.add_argument("image", metavar="IMAGE")
    en.add_argument("--prompt", default=None)
    common(en, n=True)
    r = sub.add_parser("remix", help="render IMAGE in the look of REFERENCE")
    r.add_argument("image", metavar="IMAGE")
    r.add_argument("reference", metavar="REFERENCE")
    r.add_argument("--prompt", default=None)
    common(r, n=True)

    jobs = sub.add_parser("jobs", help="async jobs")
    jsub = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    jw = jsub.add_parser("wait", help="wait for a job; save its images with -o")
    jw.add_argument("job_id")
    jw.add_argument("-o", "--output", default=None)
    jw.add_argument("--wait-timeout", type=float, default=1800.0)
    return p


def _train_progress(bar: Bar, started: float) -> Callable[[ProfileStatusResponse], None]:
    def on_status(status: ProfileStatusResponse) -> None:
        stage = TRAINING_STAGES.index(status.status) + 1 if status.status in TRAINING_STAGES else 0
        bar.update(stage, f"{status.status} {time.monotonic() - started:.0f}s")

    return on_status


def _wait_for_training(client: Phota, profile_id: str, timeout: float, out: TextIO) -> int:
    bar = Bar("training", len(TRAINING_STAGES))
    try:
        client.profiles.wait(profile_id, timeout=timeout, on_status=_train_progress(bar, time.monotonic()))
    finally:
        bar.close()
    out.write(f"{profile_id}\n")
    return 0


def _print_result(result: Result, output: str, scores: bool, out: TextIO) -> None:
    for path in result.save(output):
        out.write(f"saved {path}\n")
    subjects = ", ".join(f"{pid} x{count}" for pid, count in result.known_subjects.items()) or "none"
    out.write(f"known subjects: {subjects}\n")
    if scores:
        for i, img in enumerate(result.images):
            out.write(f"identity scores [{i}]: {json.dumps(img.identity_scores or {})}\n")


def _run(args: argparse.Namespace, client: Phota, out: TextIO) -> int:
    if args.command == "profiles":
        return _profiles(args, client, out)
    if args.command == "jobs":
        job = client.jobs.wait(args.job_id, timeout=args.wait_timeout)
        out.write(f"{job.job_id} {job.status}\n")
        if args.output and job.result is not None:
            _print_result(client.jobs.result(job), args.output, False, out)
        return 0
    options: dict[str, Any] = {
        "profile_ids": args.profile_ids,
        "output_format": args.output_format,
        "include_identity_scores": True if args.scores else None,
        "n": getattr(args, "n", None),
    }
    for name in ("base_model", "aspect_ratio", "resolution", "quality"):
        options[name] = getattr(args, name, None)
    if args.submit_async:
        options["async_"] = True
    if args.command == "edit":
        result = client.edit(args.prompt, [args.image, *args.more_images], **options)
    elif args.command == "generate":
        result = client.generate(args.prompt, **options)
    elif args.command == "enhance":
        result = client.enhance(args.image, args.prompt, **options)
    else:
        result = client.remix(args.image, args.reference, args.prompt, **options)
    if isinstance(result, JobHandle):
        sys.stderr.write(f"job {result.job_id} submitted\n")
        result = client.jobs.result(result.job_id)
    _print_result(result, args.output, args.scores, out)
    return 0


def _profiles(args: argparse.Namespace, client: Phota, out: TextIO) -> int:
    if args.action == "add":
        local = sum(1 for p in args.photos if not p.startswith(("http://", "https://")))
        upload_bar = Bar("uploading", local) if local else None
        response = client.profiles.create(
            args.photos,
            training_tier=args.tier,
            tag=args.tag,
            on_upload=(lambda done, _total: upload_bar.update(done)) if upload_bar else None,
        )
        if upload_bar:
            upload_bar.close()
        if not args.wait:
            out.write(f"{response.profile_id}\n")
            return 0
        sys.stderr.write(f"training {response.profile_id}\n")
        return _wait_for_training(client, response.profile_id, args.wait_timeout, out)
    if args.action == "list":
        for p in client.profiles.list(args.tag):
            out.write(f"{p.profile_id}\t{p.status}\t{p.tag or ''}\n")
        return 0
    if args.action == "status":
        s = client.profiles.status(args.profile_id)
        out.write(f"{s.profile_id}\t{s.status}\t{s.message}\n".rstrip("\t\n") + "\n")
        return 0
    if args.action == "wait":
        return _wait_for_training(client, args.profile_id, args.wait_timeout, out)
    if args.action == "picture":
        path = Path(args.output)
        path.write_bytes(client.profiles.picture(args.profile_id))
        out.write(f"saved {path}\n")
        return 0
    client.profiles.delete(args.profile_id)
    out.write(f"deleted {args.profile_id}\n")
    return 0


def exit_code(exc: PhotaError) -> int:
    if isinstance(exc, (AuthenticationError, PermissionDeniedError)):
        return 3
    if isinstance(exc, NotFoundError):
        return 4
    if isinstance(exc, (ProfileTrainingError, JobFailedError)):
        return 5
    if isinstance(exc, (InternalServerError, APIConnectionError)):
        return 6
    if isinstance(exc, WaitTimeoutError):
        return 7
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with Phota(args.base_url, args.api_key, timeout=args.timeout) as client:
            return _run(args, client, sys.stdout)
    except PhotaError as exc:
        sys.stderr.write(f"phota-client: error: {exc}\n")
        return exit_code(exc)
    except ValidationError as exc:  # an option the request model refuses (-n 9, a bad --aspect-ratio, ...)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"phota-client: error: {problems}\n")
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        sys.stderr.write(f"phota-client: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("phota-client: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
