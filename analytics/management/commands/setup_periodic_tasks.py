"""Every periodic job, defined in one place and written to django-celery-beat's tables.

Re-runnable: existing entries are updated, entries this command owns but no longer lists are deleted.
Times of the trading day are in America/New_York so DST is handled by the scheduler.
"""

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

PREFIX = "platform: "

# name, task, queue, schedule: ("every", seconds) or ("crontab", "m h dow", time zone)
SCHEDULE = [
    ("heartbeat", "analytics.heartbeat", "low", ("every", 30)),
    # Orders, fills and positions corrected toward the broker's truth, with the risk watch (also
    # queued at worker start): the critical pool's work.
    ("orders reconcile", "execution.orders_reconcile_fleet", "high", ("every", 300)),
    # The trading day: what is due is computed in exchange time (execution/day.py).
    ("end-of-day flatten", "execution.day_flatten_due", "critical", ("every", 60)),
    ("day close and summary", "execution.day_close_due", "normal", ("every", 300)),
    ("overnight ranges", "execution.overnight_ranges_record", "normal", ("every", 60)),
    # The live strategies: at second 0 of every minute, so the 09:30 breakout goes out at 09:30:00.
    (
        "strategy desks",
        "strategies.desks_step_fleet",
        "high",
        ("crontab", "* * *", "America/New_York"),
    ),
    (
        "cached bars clean-up",
        "execution.cleanup_cached_bars",
        "background",
        ("crontab", "15 4 *", "America/New_York"),
    ),
    ("notification sweep", "notifications.delivery_sweep", "low", ("every", 60)),
    (
        "discord control cleanup",
        "chatops.cleanup",
        "background",
        ("crontab", "0 4 *", "America/New_York"),
    ),
    (
        "notification cleanup",
        "notifications.cleanup_deliveries",
        "background",
        ("crontab", "30 3 *", "America/New_York"),
    ),
    (
        "api token cleanup",
        "apiauth.cleanup_api_tokens",
        "background",
        ("crontab", "45 3 *", "America/New_York"),
    ),
]


class Command(BaseCommand):
    help = "Create or update the platform's periodic tasks (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        names = []
        for name, task, queue, schedule in SCHEDULE:
            full_name = PREFIX + name
            names.append(full_name)
            defaults = {
                "task": task,
                "queue": queue,
                "enabled": True,
                "interval": None,
                "crontab": None,
            }
            if schedule[0] == "every":
                defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                    every=schedule[1], period=IntervalSchedule.SECONDS
                )
            else:
                minute, hour, day_of_week = schedule[1].split()
                defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
                    minute=minute,
                    hour=hour,
                    day_of_week=day_of_week,
                    day_of_month="*",
                    month_of_year="*",
                    timezone=schedule[2],
                )
            PeriodicTask.objects.update_or_create(name=full_name, defaults=defaults)
        stale = PeriodicTask.objects.filter(name__startswith=PREFIX).exclude(name__in=names)
        removed = stale.count()
        stale.delete()
        self.stdout.write(f"Periodic tasks: {len(names)} defined, {removed} removed.")
