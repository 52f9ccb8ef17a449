from django.core.management.base import BaseCommand

from execution.hubs_process import run_forever


class Command(BaseCommand):
    help = "Listen to the ProjectX user hubs of every active account and store what they report."

    def handle(self, *args, **options) -> None:
        self.stdout.write("hubs: starting (Ctrl-C stops)")
        run_forever()
