"""GET /v1/phota/usage on a long ledger against raw SQL for the same page, in one run.

The ledger of one account is filled to 10k and then 1M entries (top-ups, reservations and their
settles or releases, written with executemany straight into a real `phota serve`'s SQLite
database). For each size, p50 of:

- phota: ``GET /usage?limit=100`` over HTTP, first page and a page from a cursor deep in the ledger;
- raw: the same page and the same totals with Python's sqlite3 (the two SELECTs phota's page needs,
  written by hand) and ``json.dumps`` of the same fields, in-process: no HTTP, no framework.

Target: phota ≤ 2× raw. Run: .venv/bin/python -m bench.usage
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench._report import write_section
from bench._server import Served, phota_server
from phota.store.db import Database
from phota.store.keys import authenticate

PAGE = 100
SIZES = (10_000, 1_000_000)
RUNS = 15

RAW_PAGE = """
SELECT id, kind, amount_micros, balance_after_micros, reference, description, created_at
FROM ledger_entries WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?
"""
RAW_TOTALS = """
SELECT
  (SELECT balance_micros FROM credit_accounts WHERE account_id = :a),
  (SELECT coalesce(sum(-o.amount_micros), 0) FROM ledger_entries o
     WHERE o.account_id = :a AND o.kind = 'reserve'
       AND NOT EXISTS (SELECT 1 FROM ledger_entries c WHERE c.reservation_id = o.id)),
  coalesce(sum(CASE WHEN e.kind = 'topup' THEN e.amount_micros ELSE 0 END), 0),
  coalesce(sum(CASE WHEN e.kind = 'settle' THEN -coalesce(r.amount_micros, 0) - e.amount_micros END), 0),
  coalesce(sum(CASE WHEN e.kind = 'release' THEN e.amount_micros ELSE 0 END), 0),
  coalesce(sum(CASE WHEN e.kind = 'refund' THEN e.amount_micros ELSE 0 END), 0),
  coalesce(sum(CASE WHEN e.kind = 'adjust' THEN e.amount_micros ELSE 0 END), 0),
  coalesce(sum(CASE WHEN e.kind = 'settle' THEN 1 ELSE 0 END), 0)
FROM ledger_entries e LEFT JOIN ledger_entries r ON r.id = e.reservation_id AND e.kind = 'settle'
WHERE e.account_id = :a
"""
TOTAL_NAMES = ("balance", "held", "topped_up", "charged", "released", "refunded", "adjusted", "settled_requests")


def fill(path: str, account_id: str, start: int, count: int) -> None:
    """Append ``count`` entries in cycles of reserve → settle (or release every 4th) and a top-up."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(path)
    cur = conn.cursor()
    next_id = (cur.execute("SELECT coalesce(max(id), 0) FROM ledger_entries").fetchone()[0] or 0) + 1
    balance = cur.execute(
        "SELECT coalesce(balance_micros, 0) FROM credit_accounts WHERE account_id = ?", (account_id,)
    ).fetchone()
    bal = balance[0] if balance else 0
    rows = []
    i = start
    while len(rows) < count:
        when = (t0 + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f")
        if i % 3 == 0:
            bal += 1_000_000
            rows.append((next_id, account_id, "topup", 1_000_000, bal, f"t{i}", "credits", None, when))
            next_id += 1
        else:
            bal -= 150_000
            reserve_id = next_id
            rows.append((reserve_id, account_id, "reserve", -150_000, bal, f"r{i}", "enhance", None, when))
            kind, back = ("release", 150_000) if i % 4 == 0 else ("settle", 30_000)
            bal += back
            rows.append((reserve_id + 1, account_id, kind, back, bal, f"r{i}", "charged", reserve_id, when))
            next_id += 2
        i += 1
    cur.executemany(
        "INSERT INTO ledger_entries (id, account_id, kind, amount_micros, balance_after_micros, reference, "
        "description, reservation_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    cur.execute(
        "INSERT INTO credit_accounts (account_id, balance_micros, updated_at) VALUES (?, ?, '2026-01-01 00:00:00') "
        "ON CONFLICT (account_id) DO UPDATE SET balance_micros = excluded.balance_micros",
        (account_id, bal),
    )
    conn.commit()
    conn.close()


def raw_page(conn: sqlite3.Connection, account_id: str, after: int) -> bytes:
    rows = conn.execute(RAW_PAGE, (account_id, after, PAGE + 1)).fetchall()
    totals = conn.execute(RAW_TOTALS, {"a": account_id}).fetchone()
    keys = ("id", "kind", "amount_micros", "balance_after_micros", "reference", "description", "created_at")
    body = {
        "totals": dict(zip(TOTAL_NAMES, totals, strict=True)),
        "entries": [dict(zip(keys, row, strict=True)) for row in rows[:PAGE]],
        "has_more": len(rows) > PAGE,
    }
    return json.dumps(body).encode()


def p50(fn: object) -> float:
    fn()  # type: ignore[operator]
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(served: Served, path: str, account_id: str) -> list[str]:
    client = httpx.Client(headers=served.headers, timeout=120)
    first = client.get(f"{served.base}/usage", params={"limit": PAGE}).json()
    count = client.get(f"{served.base}/usage", params={"limit": 1}).json()["totals"]
    deep = str(int(first["entries"][0]["id"]) + int(count["settled_requests"]))  # a cursor far in
    conn = sqlite3.connect(path)
    out = []
    try:
        for label, cursor in (("first page", None), ("page from a deep cursor", deep)):
            params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
            body = client.get(f"{served.base}/usage", params=params).json()
            assert len(body["entries"]) == PAGE and body["has_more"], body.get("detail")
            after = int(cursor) if cursor else 0
            raw_totals = conn.execute(RAW_TOTALS, {"a": account_id}).fetchone()
            phota_totals = tuple(body["totals"][f"{n}_micros" if n != "settled_requests" else n] for n in TOTAL_NAMES)
            assert phota_totals == tuple(raw_totals), (phota_totals, raw_totals)  # same numbers
            phota_ms = p50(lambda params=params: client.get(f"{served.base}/usage", params=params))
            raw_ms = p50(lambda after=after: raw_page(conn, account_id, after))
            out.append((label, phota_ms, raw_ms))
    finally:
        conn.close()
        client.close()
    return [
        f"| {label} | {phota_ms:.1f} | {raw_ms:.1f} | **{phota_ms / raw_ms:.2f}×** |" for label, phota_ms, raw_ms in out
    ]


def main() -> None:
    rows: list[str] = []
    with phota_server() as served:
        db = Database(served.database_url)
        with db.session() as s:
            principal = authenticate(s, served.headers["X-API-Key"])
        db.dispose()
        assert principal is not None
        path = served.database_url.removeprefix("sqlite:///")
        written = 0
        for size in SIZES:
            t = time.perf_counter()
            fill(path, principal.account_id, written, size - written)
            fill_s = time.perf_counter() - t
            written = size
            for line in measure(served, path, principal.account_id):
                rows.append(line.replace("| ", f"| {size:,} entries, ", 1))
            rows.append(f"| (writing {size:,} entries with executemany took {fill_s:.1f} s) | | | |")
    table = "\n".join(rows)
    body = f"""
One account's ledger in a real `phota serve` (SQLite WAL); `GET /usage?limit={PAGE}` over HTTP
(p50 of {RUNS}) against the same page and totals read with Python's sqlite3 and serialised with
`json.dumps`, in-process (p50 of {RUNS}). Both return the same totals (checked). Target: phota ≤ 2× raw.

| ledger, page | phota p50 ms | raw SQL + json p50 ms | ratio |
|---|---:|---:|---:|
{table}

The totals (one aggregate over the account's entries in the period) are most of the time at 1M
entries, for phota and raw SQL alike: the page itself is an index range read of {PAGE + 1} rows on
`ix_ledger_entries_account_id_id` however long the ledger is.
"""
    write_section("usage", "GET /usage on a long ledger (bench/usage.py)", body)


if __name__ == "__main__":
    main()
