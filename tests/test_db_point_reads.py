"""Point reads on the held connection see every commit at once and convert types like Core."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from sqlalchemy import bindparam, select

from phota.store.db import Database
from phota.store.keys import get_or_create_account
from phota.store.models import Job, Profile

STATUS = select(Profile.status, Profile.message).where(Profile.id == bindparam("profile_id"))
JOB = select(Job.created_at, Job.result, Job.finished_at).where(Job.id == bindparam("job_id"))


def test_point_reads_follow_commits_from_other_connections(database_url: str) -> None:
    db, writer = Database(database_url), Database(database_url)
    try:
        pid = uuid.uuid4().hex[:16]
        with writer.session() as s:
            account = get_or_create_account(s, f"reads-{pid}")
            s.add(Profile(id=pid, account_id=account.id, training_tier="fast", status="VALIDATING", image_urls=[]))
        assert db.fetch_one(STATUS, profile_id=pid) == ("VALIDATING", "")
        for status in ("QUEUING", "IN_PROGRESS", "READY"):
            with writer.session() as s:
                profile = s.get(Profile, pid)
                assert profile is not None
                profile.status = status
            # No stale snapshot: the held connection sees the commit on the next read.
            assert db.fetch_one(STATUS, profile_id=pid) == (status, "")
        assert db.fetch_one(STATUS, profile_id="missing") is None
        # From another thread (a worker thread), the read takes its own connection.
        seen: list[object] = []
        t = threading.Thread(target=lambda: seen.append(db.fetch_one(STATUS, profile_id=pid)))
        t.start()
        t.join()
        assert seen == [("READY", "")]
    finally:
        db.dispose()
        writer.dispose()


def test_point_reads_convert_json_and_datetimes(database_url: str) -> None:
    db = Database(database_url)
    try:
        jid = "job_" + uuid.uuid4().hex
        when = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
        with db.session() as s:
            account = get_or_create_account(s, f"reads-{jid}")
            s.add(
                Job(
                    id=jid,
                    account_id=account.id,
                    kind="studio",
                    status="succeeded",
                    result={"images": ["a"], "n": 1},
                    created_at=when,
                )
            )
        created, result, finished = db.fetch_one(JOB, job_id=jid) or ()
        assert created == when and created.tzinfo is not None
        assert result == {"images": ["a"], "n": 1}
        assert finished is None
    finally:
        db.dispose()
