"""The market-data cache keyed by source (execution/sources.py): the live gateway and each simulator.

Rows cached before this belong to no source anyone can vouch for: the simulator uses TopStepX's
contract ids, so they may hold simulated bars under a live contract. They are dropped (it is a cache:
each source fetches its own bars again on the next read) rather than credited to the live gateway.
"""

from django.db import migrations, models


def forget_unattributed_bars(apps, schema_editor):
    apps.get_model("execution", "CachedBar").objects.all().delete()
    apps.get_model("execution", "BarCoverage").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("execution", "0004_daily_steps"),
    ]

    operations = [
        migrations.RunPython(forget_unattributed_bars, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(model_name="cachedbar", name="uniq_cached_bar"),
        migrations.RemoveIndex(model_name="barcoverage", name="bar_coverage_lookup"),
        migrations.AddField(
            model_name="cachedbar",
            name="source",
            field=models.CharField(default="", max_length=24),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="barcoverage",
            name="source",
            field=models.CharField(default="", max_length=24),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="cachedbar",
            constraint=models.UniqueConstraint(
                fields=("source", "contract_id", "unit", "unit_number", "started_at"),
                name="uniq_cached_bar",
            ),
        ),
        migrations.AddIndex(
            model_name="barcoverage",
            index=models.Index(
                fields=["source", "contract_id", "unit", "unit_number", "start_at"],
                name="bar_coverage_lookup",
            ),
        ),
    ]
