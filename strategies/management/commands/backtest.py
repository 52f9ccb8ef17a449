"""`manage.py backtest`: run a strategy over bars, print a report (with a progress bar) or JSON.

    python manage.py backtest --strategy overnight_range_breakout --bars FILE --contract ES \
        --param buffer_ticks=2 --param stop_atr=0.3 --plan combine-50k --json
    python manage.py backtest ... --sweep buffer_ticks=1,2,4 --sweep stop_atr=0.2,0.3   # ranked grid
    python manage.py backtest ... --walk-forward 60,20                                  # IS/OOS folds
    python manage.py backtest ... --save --tenant demo-desk [--queue]                   # stored run
    python manage.py backtest ... --save --tenant demo-desk --sweep buffer_ticks=1,2    # fanned out
"""

import json
import sys
import time
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Tenant
from strategies.backtest.run import (
    ReplayData,
    parameter_grid,
    rank_results,
    run_backtest,
    walk_forward_splits,
)
from strategies.backtests import (
    BacktestInputError,
    backtest_create,
    backtest_execute,
    bars_load,
    contract_spec,
    limits_for,
    resolve_bars_source,
    rules_label,
    sweep_create,
)
from strategies.engine.params import ParameterError
from strategies.engine.registry import STRATEGY_KINDS
from strategies.evaluation.lookahead import lookahead_check


def key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CommandError(f"expected name=value, got {text!r}")
    return name.strip(), value.strip()


class ProgressBar:
    """A one-line progress bar on stderr (kept off stdout so --json output stays clean)."""

    def __init__(self, stream=sys.stderr, width: int = 40, unit: str = "bars") -> None:
        self.stream, self.width, self.started = stream, width, time.monotonic()
        self.unit = unit
        self.is_open = False

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(share * self.width)
        elapsed = time.monotonic() - self.started
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {share:6.1%} "
            f"{done:,}/{total:,} {self.unit}  {elapsed:5.1f}s"
        )
        self.is_open = done < total
        if not self.is_open:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line when the replay stopped early (an account that fails stops it)."""
        if self.is_open:
            self.stream.write("\n")
            self.is_open = False


class Command(BaseCommand):
    help = "Backtest a strategy over 1-minute bars; --plan applies a TopStep plan's rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True, choices=sorted(STRATEGY_KINDS))
        parser.add_argument(
            "--bars",
            required=True,
            help="CSV(.gz) or Parquet of 1-minute bars, or cached:<contract id>",
        )
        parser.add_argument("--contract", required=True, help="ES, NQ, MES ...")
        parser.add_argument(
            "--param", action="append", default=[], type=key_value, metavar="NAME=VALUE"
        )
        parser.add_argument(
            "--from", dest="first_date", type=date.fromisoformat, help="first session date"
        )
        parser.add_argument(
            "--to", dest="last_date", type=date.fromisoformat, help="last session date"
        )
        parser.add_argument(
            "--plan",
            default="",
            help="TopStep plan whose rules apply, e.g. combine-50k (none: no account rules)",
        )
        parser.add_argument("--commission", type=Decimal, help="USD per contract per side")
        parser.add_argument("--slippage", type=int, default=0, help="ticks per stop/market fill")
        parser.add_argument("--json", action="store_true", help="print metrics and trades as JSON")
        parser.add_argument(
            "--sweep", action="append", default=[], type=key_value, metavar="NAME=V1,V2"
        )
        parser.add_argument(
            "--walk-forward", help="IN,OUT: in-sample and out-of-sample sessions per fold"
        )
        parser.add_argument(
            "--lookahead-check",
            type=int,
            metavar="N",
            help="re-make N entry decisions on bars cut where each was made; they must agree",
        )
        parser.add_argument("--save", action="store_true", help="store the run (needs --tenant)")
        parser.add_argument("--tenant", help="tenant slug for --save")
        parser.add_argument("--queue", action="store_true", help="with --save: let a worker run it")

    def handle(self, *args, **options) -> None:
        try:
            if options["save"]:
                return self._saved(options)
            spec = contract_spec(options["contract"])
            source = resolve_bars_source(options["bars"], allow_any_path=True)
            bars = bars_load(source=source, contract=spec)
            limits = limits_for(options["plan"])
            if options["lookahead_check"]:
                return self._lookahead(options, bars, spec)
            if options["sweep"]:
                return self._sweep(options, bars, spec, limits)
            if options["walk_forward"]:
                return self._walk_forward(options, bars, spec, limits)
            result = self._run(
                options,
                dict(options["param"]),
                bars,
                spec,
                limits,
                show_progress=not options["json"],
            )
        except ParameterError as exc:
            raise CommandError(
                "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
            ) from exc
        except (BacktestInputError, InvalidOperation, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self._print(result.to_dict() if options["json"] else result.report(), options)
        return None

    def _run(
        self, options, params, bars, spec, limits, *, show_progress: bool, first=None, last=None
    ):
        progress = ProgressBar(self.stderr._out) if show_progress else None
        try:
            return run_backtest(
                options["strategy"],
                params,
                bars,
                spec,
                limits=limits,
                rules=rules_label(options["plan"]),
                commission_usd=options["commission"],
                slippage_ticks=options["slippage"],
                on_progress=progress,
                first_date=first or options["first_date"],
                last_date=last or options["last_date"],
            )
        finally:
            if progress is not None:
                progress.close()

    def _lookahead(self, options, bars, spec) -> None:
        checked, mismatches = lookahead_check(
            options["strategy"],
            dict(options["param"]),
            ReplayData.prepare(bars),
            spec,
            samples=options["lookahead_check"],
        )
        for m in mismatches:
            again = m.on_cut_data.reason if m.on_cut_data else "nothing"
            self.stdout.write(f"LOOK-AHEAD {m.decision.tag}: {m.decision.reason!r} -> {again!r}")
        self.stdout.write(
            f"look-ahead check: {checked} entry decisions re-made on cut data, "
            f"{len(mismatches)} differ"
        )
        if mismatches:
            raise CommandError("the strategy uses bars that had not closed when it decided")

    def _sweep(self, options, bars, spec, limits) -> None:
        grid = {name: [v for v in values.split(",") if v] for name, values in options["sweep"]}
        base = dict(options["param"])
        data = ReplayData.prepare(bars)
        cells = [{**base, **cell} for cell in parameter_grid(grid)]
        results = [
            (cell, self._run(options, cell, data, spec, limits, show_progress=False))
            for cell in cells
        ]
        ranked = [
            {
                "params": cell,
                **{
                    k: r.metrics()[k]
                    for k in (
                        "net_pnl_usd",
                        "win_rate",
                        "profit_factor",
                        "max_drawdown_usd",
                        "survived",
                    )
                },
            }
            for cell, r in rank_results(results)
        ]
        if options["json"]:
            self._print(ranked, options)
            return
        for position, row in enumerate(ranked, 1):
            self.stdout.write(
                f"{position:3d}. {json.dumps(row['params'])}  net {row['net_pnl_usd']}  "
                f"win {row['win_rate']}  PF {row['profit_factor']}  "
                f"max DD {row['max_drawdown_usd']}  {'survived' if row['survived'] else 'FAILED'}"
            )

    def _walk_forward(self, options, bars, spec, limits) -> None:
        try:
            in_n, out_n = (int(x) for x in options["walk_forward"].split(","))
        except ValueError as exc:
            raise CommandError("--walk-forward takes IN,OUT session counts, e.g. 60,20") from exc
        data = ReplayData.prepare(bars)
        params = dict(options["param"])
        folds = []
        for split in walk_forward_splits(
            data.sessions.dates, in_sample_sessions=in_n, out_of_sample_sessions=out_n
        ):
            is_result = self._run(
                options,
                params,
                data,
                spec,
                limits,
                show_progress=False,
                first=split.in_sample[0],
                last=split.in_sample[1],
            )
            oos_result = self._run(
                options,
                params,
                data,
                spec,
                limits,
                show_progress=False,
                first=split.out_of_sample[0],
                last=split.out_of_sample[1],
            )
            folds.append(
                {
                    "in_sample": [str(d) for d in split.in_sample],
                    "out_of_sample": [str(d) for d in split.out_of_sample],
                    "in_sample_net_pnl_usd": str(is_result.net_pnl_usd),
                    "out_of_sample_net_pnl_usd": str(oos_result.net_pnl_usd),
                    "out_of_sample_survived": oos_result.survived,
                }
            )
        if options["json"]:
            self._print(folds, options)
            return
        for fold in folds:
            self.stdout.write(
                f"IS {fold['in_sample'][0]}..{fold['in_sample'][1]} net {fold['in_sample_net_pnl_usd']}"
                f"  |  OOS {fold['out_of_sample'][0]}..{fold['out_of_sample'][1]} net "
                f"{fold['out_of_sample_net_pnl_usd']}"
            )

    def _saved(self, options) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"] or "").first()
        if tenant is None:
            raise CommandError("--save needs --tenant with an existing tenant slug")
        if options["sweep"]:  # stored cells, one Celery task each, ranked by the last to finish
            grid = {name: [v for v in values.split(",") if v] for name, values in options["sweep"]}
            sweep = sweep_create(
                tenant=tenant,
                actor=None,
                kind=options["strategy"],
                grid=grid,
                contract=options["contract"],
                bars_source=options["bars"],
                first_date=options["first_date"],
                last_date=options["last_date"],
                plan_code=options["plan"],
                commission_usd=options["commission"],
                slippage_ticks=options["slippage"],
            )
            self.stdout.write(f"queued sweep {sweep.public_id}: {sweep.cells_total} runs")
            return
        run = backtest_create(
            tenant=tenant,
            actor=None,
            kind=options["strategy"],
            params=dict(options["param"]),
            contract=options["contract"],
            bars_source=options["bars"],
            first_date=options["first_date"],
            last_date=options["last_date"],
            plan_code=options["plan"],
            commission_usd=options["commission"],
            slippage_ticks=options["slippage"],
            enqueue=options["queue"],
        )
        if options["queue"]:
            self.stdout.write(f"queued backtest run {run.public_id}")
            return
        run = backtest_execute(
            run=run, on_progress=None if options["json"] else ProgressBar(self.stderr._out)
        )
        if run.status != "succeeded":
            raise CommandError(f"backtest failed: {run.error}")
        self._print(run.result if options["json"] else json.dumps(run.metrics, indent=2), options)

    def _print(self, payload, options) -> None:
        if isinstance(payload, str):
            self.stdout.write(payload)
        else:
            self.stdout.write(
                json.dumps(payload, indent=None if options["json"] else 2, default=str)
            )
