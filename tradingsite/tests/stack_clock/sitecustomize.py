"""One faked wall clock for every Python process of a stack under test (put this folder on PYTHONPATH).

STACK_CLOCK_START (ISO time, UTC) is what the clock read at STACK_CLOCK_ANCHOR (real Unix time). Each
process, whenever it starts, moves its wall clock to START + (now - ANCHOR) and lets it tick, so web,
worker, beat, simulator, hubs and every later `manage.py` command agree to the millisecond. Only the wall
clock moves (time-machine): monotonic clocks, sleeps and timeouts stay real, and PostgreSQL and Redis,
which are not Python, keep the machine's time. libfaketime was the first choice but hangs Python 3.11's
threading waits (Event.wait) when it fakes the monotonic clock, and breaks time.sleep when it does not.
"""

import os

if os.environ.get("STACK_CLOCK_START"):
    import time
    from datetime import datetime, timedelta

    import time_machine

    _start = datetime.fromisoformat(os.environ["STACK_CLOCK_START"])
    _elapsed = time.time() - float(os.environ["STACK_CLOCK_ANCHOR"])
    _traveller = time_machine.travel(_start + timedelta(seconds=_elapsed), tick=True).start()
    # time-machine starts the ticking at the first reading, not at start(): read now, or a process
    # that first asks the time after a slow start-up would run behind the others by that long.
    _traveller.time_ns()
