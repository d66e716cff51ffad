from django.core.management.base import BaseCommand

from deployments import services


class Command(BaseCommand):
    help = "Queue again (or fail) tasks whose worker died or whose queue message was lost; workers and web processes also do it every MLSERVE_TASK_RECOVER_SECONDS."

    def handle(self, *args, **options):
        result = services.tasks_recover()
        self.stdout.write(
            f"Lost tasks: {len(result['requeued'])} queued again, {len(result['failed'])} given up, "
            f"{len(result['resent'])} lost messages sent again."
        )
