from django.db import migrations

SCHEDULES = [
    # name, function, schedule type, minutes
    ("mlserve: recover stalled tasks", "deployments.tasks.recover_stalled_tasks", "I", 1),
    ("mlserve: expire task results", "deployments.tasks.expire_task_results", "H", None),
]


def add_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, schedule_type, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1}
        )


def remove_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(add_schedules, remove_schedules)]
