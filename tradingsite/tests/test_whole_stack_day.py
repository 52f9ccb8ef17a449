"""The whole stack as it runs: a trading morning of the demo desk on `make run`'s processes (issue 12).

bin/run starts web, worker, beat, simulator and hubs with honcho on its embedded PostgreSQL and private
Redis, every Python process on one faked wall clock that starts at 09:27 New York time on a Tuesday
(stack_clock/sitecustomize.py; PostgreSQL and Redis keep the real clock). The simulator starts at that
time too: its demo market (90 sessions of history on CME hours) runs on in real time from 09:27.

The demo trader switches the breakout on for the paper account through the REST API; beat, the worker
and the hubs do the rest. Checked through the operator command line (`manage.py trading ...`), the
database and every process's log, up to 09:33: the overnight range is recorded at 09:30, both entries
go out at 09:30 as brackets and the broker acknowledges them, a desk step ran in every minute, no
process met "database is locked" or a traceback, and the account is flat with nothing working at the end.

The day is compressed to fit in six minutes: entries are cancelled at 09:31 (entry_window_end) and the
strategy flattens at 09:32 (flatten_at). The random walk decides whether an entry fills before 09:31; if
one does, the other is cancelled (OCO) and the 09:32 flatten closes the position; if none does, the
strategy cancels both at 09:31.

The breakout runs on its own defaults (a 14-session ATR, on the demo market's history) but for the two
times above.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time

import httpx
import pytest

from markets.sessions import NEW_YORK, at_et
from tradingsite.tests.stack import ROOT, private_run_dir, running_stack

pytestmark = pytest.mark.xdist_group("make_run")  # one bin/run at a time on this machine

DAY = date(2026, 3, 10)  # a Tuesday, an ordinary CME session
CLOCK_START = at_et(DAY, wall_time(9, 27))
LAST_WARM_UP = at_et(DAY, wall_time(9, 29))  # the breakout must be on before this step
OPEN = at_et(DAY, wall_time(9, 30))
ENTRY_WINDOW_END, FLATTEN_AT = wall_time(9, 31), wall_time(9, 32)  # the compressed day
WATCH_UNTIL = at_et(DAY, wall_time(9, 33))
BREAKOUT_PARAMS = {
    "entry_window_end": f"{ENTRY_WINDOW_END:%H:%M}",
    "flatten_at": f"{FLATTEN_AT:%H:%M}",
}
CLOCK_DIR = ROOT / "tradingsite" / "tests" / "stack_clock"
TROUBLE = ("database is locked", "Traceback", "Discarding revoked task")  # a step lost or a crash
CELERY_TASK_LINE = re.compile(
    r"\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+: INFO/\S+\] (?:[\w.]+: )?"  # logger name
    r"Task (?P<task>[\w.]+)\[[^\]]+\] "
    r"(?P<outcome>succeeded|raised|retry)"
)


class StackClock:
    """The stack's faked clock, read from the test's real one."""

    def __init__(self, start: datetime) -> None:
        self.start, self.anchor = start, time.time()

    def env(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(CLOCK_DIR), os.environ.get("PYTHONPATH")]))
        return {
            "STACK_CLOCK_START": self.start.astimezone(UTC).isoformat(),
            "STACK_CLOCK_ANCHOR": repr(self.anchor),
            "PYTHONPATH": path,
        }

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.time() - self.anchor)

    def sleep_until(self, moment: datetime) -> None:
        time.sleep(max(0.0, (moment - self.now()).total_seconds()))


def et(iso: str | None) -> datetime:
    assert iso, "no time recorded"
    return datetime.fromisoformat(iso).astimezone(NEW_YORK)


def wait_for_report(stack, ready, *, seconds: float, what: str) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        report = stack.report()
        if ready(report):
            return report
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f}s\n{json.dumps(report, indent=1)}")
        time.sleep(5)


def switch_breakout_on(stack, report: dict) -> dict:
    """As the demo trader would, through the REST API: the account's breakout (the one the demo seed
    gives it, else a new one) gets this test's parameters and is switched on."""
    account = report["accounts"][0]["id"]
    with httpx.Client(base_url=f"{stack.base_url}/api/v1", timeout=30) as api:
        login = api.post("/auth/token/", data={"username": "demo", "password": "demo-password"})
        assert login.status_code == 200, login.text
        body = login.json()
        # A short-lived JWT ("access") where the API has them, else the static token.
        scheme, token = ("Bearer", body["access"]) if "access" in body else ("Token", body["token"])
        api.headers["Authorization"] = f"{scheme} {token}"
        listed = api.get("/strategies/")
        assert listed.status_code == 200, listed.text
        seeded = [
            c
            for c in listed.json()["results"]
            if c["kind"] == "overnight_range_breakout" and c["account"] == account
        ]
        if seeded:
            changed = api.patch(f"/strategies/{seeded[0]['id']}/", json={"params": BREAKOUT_PARAMS})
        else:
            changed = api.post(
                "/strategies/",
                json={
                    "name": "Breakout",
                    "kind": "overnight_range_breakout",
                    "account": account,
                    "instrument": report["contract"],
                    "params": BREAKOUT_PARAMS,
                },
            )
        assert changed.status_code in (200, 201), changed.text
        enabled = api.post(f"/strategies/{changed.json()['id']}/enable/")
        assert enabled.status_code == 200, enabled.text
        return enabled.json()


def desk_step_minutes(log: str) -> tuple[set[datetime], list[str]]:
    """Minutes (UTC, faked clock) in which a desk step succeeded, and every step that did not."""
    succeeded, failed = set(), []
    for match in CELERY_TASK_LINE.finditer(log):
        if match["task"] != "strategies.desk_step":
            continue
        at = datetime.fromisoformat(match["at"]).replace(tzinfo=UTC, second=0)
        if match["outcome"] == "succeeded":
            succeeded.add(at)
        else:
            failed.append(match.group(0))
    return succeeded, failed


def test_a_trading_morning_of_the_whole_stack():
    clock = StackClock(CLOCK_START)
    with private_run_dir() as run_dir:  # not under pytest's temp root (stack.py says why)
        with running_stack(run_dir, CELERY_CONCURRENCY="2", **clock.env()) as stack:
            check_the_morning(stack, clock)
        # Stopped as Ctrl-C stops it: every process ended cleanly too.
        for trouble in TROUBLE:
            assert trouble not in stack.log, [
                line for line in stack.log.splitlines() if trouble in line
            ]


def check_the_morning(stack, clock: StackClock) -> None:
    synced = wait_for_report(
        stack,
        lambda r: r["accounts"] and r["contract"],
        seconds=120,
        what="the worker syncs the demo account and contracts from the simulator",
    )
    assert clock.now() < LAST_WARM_UP - timedelta(seconds=10), (
        f"the stack took until {clock.now():%H:%M:%S} ET to start: too late for the 09:30 breakout"
    )
    config = switch_breakout_on(stack, synced)
    assert config["is_enabled"]
    assert config["params"]["atr_period"] == 14  # the strategy's own default: no "ATR not ready"

    clock.sleep_until(WATCH_UNTIL)
    day = stack.report()
    log = stack.log
    timeline = {"clock_start": CLOCK_START.isoformat(), "report": day}
    print(json.dumps(timeline, indent=1))  # the morning, for the record (pytest -s)

    # The overnight range is recorded once 09:30 has come, by beat's every-minute job.
    (overnight,) = [r for r in day["ranges"] if r["session_date"] == DAY.isoformat()]
    assert overnight["complete"]
    assert overnight["bars"] > 900  # 18:00-09:30 of one-minute bars
    assert OPEN <= et(overnight["recorded_at"]) < OPEN + timedelta(minutes=2)

    # Both entries went out at 09:30 and the broker acknowledged them.
    entries = [o for o in day["orders"] if o["role"] == "entry"]
    assert sorted(o["tag"].split("/", 1)[1] for o in entries) == [
        f"{DAY}#1:buy",
        f"{DAY}#1:sell",
    ]
    for entry in entries:
        assert et(entry["submitted_at"]).strftime("%H:%M") == "09:30", entry
        assert entry["broker_id"], entry
        assert entry["acknowledged_at"], entry
        # Each a bracket: the hubs stored the broker's stop-loss and take-profit under the entry.
        children = {
            o["role"] for o in day["orders"] if o["parent"] == entry["tag"] and o["broker_id"]
        }
        assert children == {"stop_loss", "take_profit"}, day["orders"]
    placed = [d for d in day["decisions"] if d["action"] == "place"]
    assert {et(d["decided_at"]).strftime("%H:%M") for d in placed} == {"09:30"}
    assert all(d["status"] == "done" for d in placed), placed

    # OCO, as far as the random walk goes before the entry window closes: one fill cancels the other
    # entry, and the flatten closes the position. Without a fill, the strategy cancels both entries
    # when the window closes.
    by_action = {d["action"]: d for d in day["decisions"]}
    assert all(d["status"] in ("noted", "done") for d in day["decisions"]), day["decisions"]
    filled = [o for o in entries if o["status"] == "filled"]
    if filled:
        (entry,) = filled
        (other,) = [o for o in entries if o is not entry]
        assert other["status"] == "cancelled", other
        assert (
            et(by_action["flatten"]["decided_at"]).time().replace(second=0, microsecond=0)
            == FLATTEN_AT
        )
    else:
        assert {o["status"] for o in entries} == {"cancelled"}, entries
        cancels = [d for d in day["decisions"] if d["action"] == "cancel"]
        cancelled_at = {et(d["decided_at"]).strftime("%H:%M") for d in cancels}
        assert cancelled_at == {f"{ENTRY_WINDOW_END:%H:%M}"}, cancels
        assert len(cancels) == 2, cancels

    # The operator's command line shows the same morning.
    decisions = stack.manage("trading", "decisions", "--tenant", "demo-desk")
    assert decisions.count(f"{DAY} 13:30:00") >= 2, decisions  # 09:30 ET is 13:30 UTC
    orders = stack.manage("trading", "orders", "--tenant", "demo-desk")
    for entry in entries:
        assert str(entry["broker_id"]) in orders, orders
    # Flat, with nothing working: each table is its header and rule only.
    assert (
        len(stack.manage("trading", "orders", "--tenant", "demo-desk", "--open").splitlines()) == 2
    )
    assert len(stack.manage("trading", "positions", "--tenant", "demo-desk").splitlines()) == 2

    # No step was lost: one desk step succeeded in every minute from the first to the last.
    succeeded, failed = desk_step_minutes(log)
    assert not failed, failed
    first = min(succeeded)
    assert first <= LAST_WARM_UP
    minutes = int((WATCH_UNTIL - first).total_seconds() // 60)
    expected = {first + timedelta(minutes=n) for n in range(minutes)}
    assert expected <= succeeded, sorted(expected - succeeded)
    # And no process met a locked database, an expired step or a traceback.
    for trouble in TROUBLE:
        assert trouble not in log, [line for line in log.splitlines() if trouble in line]
