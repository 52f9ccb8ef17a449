"""Strategy configurations (which strategy trades what, with which parameters) and backtest runs."""

import uuid

from django.conf import settings
from django.db import models

from accounts.tenancy import TenantOwned


class StrategyKind(models.TextChoices):
    OVERNIGHT_RANGE_BREAKOUT = "overnight_range_breakout", "Overnight Range Breakout"
    MEAN_REVERSION = "mean_reversion", "Mean Reversion"
    TREND_FOLLOWING = "trend_following", "Trend Following"


class StrategyConfig(TenantOwned):
    """Parameters are validated against the kind's schema (strategies/engine/params.py) by the services."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=40, choices=StrategyKind.choices)
    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="strategies"
    )
    instrument = models.ForeignKey(
        "execution.Instrument", on_delete=models.PROTECT, related_name="+"
    )
    params = models.JSONField(default=dict)
    is_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"], name="uniq_strategy_name_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BacktestSweep(TenantOwned):
    """A parameter grid: one BacktestRun per cell, fanned out over the workers, ranked when done."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=40, choices=StrategyKind.choices)
    grid = models.JSONField(help_text="Parameter name -> list of values.")
    rank_by = models.CharField(max_length=40, default="net_pnl_usd")
    cells_total = models.PositiveIntegerField()
    cells_done = models.PositiveIntegerField(default=0)
    ranking = models.JSONField(
        default=list, help_text="Run ids, best first, once every cell is done."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sweep {self.public_id} ({self.cells_done}/{self.cells_total})"


class EvaluationRun(TenantOwned):
    """One Evaluation Lab run: a strategy against a plan's evaluation from every start day, and
    the Monte Carlo. ``report`` is ``strategies.evaluations.evaluation_report``'s JSON."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=40, choices=StrategyKind.choices)
    params = models.JSONField(default=dict)
    contract = models.CharField(max_length=12, help_text="Our symbol, e.g. ES.")
    bars_source = models.CharField(max_length=300, help_text="A file under MARKET_DATA_DIR.")
    plan_code = models.CharField(max_length=40, help_text="The plan evaluated, e.g. combine-50k.")
    start_every = models.PositiveSmallIntegerField(default=1)
    paths = models.PositiveIntegerField(default=10_000)
    horizon = models.PositiveSmallIntegerField(default=250)
    block = models.PositiveSmallIntegerField(default=5)
    seed = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    stage = models.CharField(max_length=20, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    report = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} vs {self.plan_code} [{self.status}]"

    @property
    def bars_name(self) -> str:
        """The file name only, never the server's path."""
        return self.bars_source.rsplit("/", 1)[-1]

    @property
    def progress_share(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0


class BacktestRun(TenantOwned):
    """One backtest: its inputs, its progress while it runs, and its results."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sweep = models.ForeignKey(
        BacktestSweep, null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(max_length=40, choices=StrategyKind.choices)
    params = models.JSONField(default=dict)
    contract = models.CharField(max_length=12, help_text="Our symbol, e.g. ES.")
    bars_source = models.CharField(
        max_length=300, help_text="A file under MARKET_DATA_DIR, or cached:<contract id>."
    )
    first_date = models.DateField(null=True, blank=True)
    last_date = models.DateField(null=True, blank=True)
    plan_code = models.CharField(max_length=40, blank=True, help_text="TopStep rules applied.")
    commission_usd = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    slippage_ticks = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=10, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED
    )
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True, help_text="Trades, equity curve, daily P&L.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When it was handed to the backtest workers (a few per tenant at a time).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "status"], name="backtest_tenant_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.contract} [{self.status}]"

    @property
    def progress_share(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0

    @property
    def bars_name(self) -> str:
        """What a person may see of the source: the file name, never the server's path."""
        source = self.bars_source
        return source if source.startswith("cached:") else source.rsplit("/", 1)[-1]

    @property
    def progress_percent(self) -> int:
        return round(self.progress_share * 100)


class StrategyRuntime(TenantOwned):
    """The live runtime of one account's enabled strategies on one contract (strategies/live).

    ``state`` is the pickled ``Desk``, signed with a key derived from the Django secret
    (``strategies/live/state.py``): bytes this platform did not write are never unpickled. When it
    cannot be read (unsigned, tampered, or a deploy changed the classes) the desk is rebuilt from
    cached history, so it is a cache of what the bars and fills determine, not the truth."""

    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.CASCADE, related_name="+"
    )
    instrument = models.ForeignKey(
        "execution.Instrument", on_delete=models.PROTECT, related_name="+"
    )
    state = models.BinaryField(null=True, blank=True)
    signature = models.CharField(max_length=64, blank=True, help_text="The configurations run.")
    bars_through = models.DateTimeField(null=True, blank=True, help_text="Close of the last bar.")
    stepped_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta(TenantOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "instrument"], name="uniq_runtime_per_contract"
            )
        ]

    def __str__(self) -> str:
        return f"runtime {self.account_id}/{self.instrument_id}"


class DecisionStatus(models.TextChoices):
    NOTED = "noted", "Noted"  # a decision without an order (a skipped day, a blocked signal)
    PENDING = "pending", "Pending"  # an intent waiting to be carried out
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class StrategyDecision(TenantOwned):
    """Every decision of the live runtime, with its reason and what came of it: the journal's
    source, and the outbox from which intents are carried out (nothing decided is lost)."""

    runtime = models.ForeignKey(StrategyRuntime, on_delete=models.CASCADE, related_name="decisions")
    strategy_config = models.ForeignKey(
        StrategyConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    decided_at = models.DateTimeField(help_text="Strategy time (the bar or fill it answered).")
    action = models.CharField(max_length=20)
    tag = models.CharField(max_length=64, blank=True)
    reason = models.TextField()
    intent = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=DecisionStatus.choices)
    outcome = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        ordering = ["decided_at", "pk"]
        indexes = [models.Index(fields=["runtime", "status"])]

    def __str__(self) -> str:
        return f"{self.action} {self.tag}: {self.reason}"
