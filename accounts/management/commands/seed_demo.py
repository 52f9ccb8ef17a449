from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_desk_seed


class Command(BaseCommand):
    help = (
        "Create the demo desk, trader and simulator login; a worker then adds the paper account"
        " with an Overnight Range Breakout, switched off (idempotent)."
    )

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                f"The demo login ({DEMO_USERNAME} / {DEMO_PASSWORD}) is public: it is created only "
                "with DJANGO_DEBUG on."
            )
        desk = demo_desk_seed()
        verb = "Created" if desk.created else "Kept"
        self.stdout.write(
            f"{verb} demo desk '{desk.tenant.name}'. Login: {DEMO_USERNAME} / {DEMO_PASSWORD}\n"
            "Its paper account, with an Overnight Range Breakout on ES (switched off), arrives"
            " once the worker reaches the simulator."
        )
