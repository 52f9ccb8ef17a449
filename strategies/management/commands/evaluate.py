"""`manage.py evaluate`: will a strategy pass a plan's evaluation, how soon, how close to failing.

    python manage.py evaluate --strategy overnight_range_breakout --bars FILE --contract ES \
        --plan combine-50k [--param stop_atr=0.3] [--every 1] [--paths 10000] [--json]
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from strategies.backtests import BacktestInputError
from strategies.engine.params import ParameterError
from strategies.engine.registry import STRATEGY_KINDS
from strategies.evaluations import (
    evaluation_inputs,
    evaluation_report,
    evaluation_walk_forward,
)
from strategies.management.commands.backtest import ProgressBar, key_value


class Command(BaseCommand):
    help = "Evaluate a strategy against a plan's evaluation: every start day, and Monte Carlo."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True, choices=sorted(STRATEGY_KINDS))
        parser.add_argument("--bars", required=True, help="CSV(.gz) of 1-minute bars")
        parser.add_argument("--contract", required=True, help="ES, NQ, MES ...")
        parser.add_argument("--plan", required=True, help="a plan with a profit target")
        parser.add_argument(
            "--param", action="append", default=[], type=key_value, metavar="NAME=VALUE"
        )
        parser.add_argument("--every", type=int, default=1, help="start an attempt every N days")
        parser.add_argument("--paths", type=int, default=10_000, help="Monte Carlo paths (0: none)")
        parser.add_argument("--horizon", type=int, default=250, help="sessions per path")
        parser.add_argument("--block", type=int, default=5, help="sessions per bootstrap block")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
        parser.add_argument(
            "--walk-forward",
            help="IN,OUT sessions: choose parameters in-sample, score evaluations out-of-sample",
        )
        parser.add_argument(
            "--sweep", action="append", default=[], type=key_value, metavar="NAME=V1,V2"
        )

    def handle(self, *args, **options) -> None:
        bars = {}
        try:
            inputs = evaluation_inputs(
                kind=options["strategy"],
                params=dict(options["param"]),
                contract=options["contract"],
                bars_source=options["bars"],
                plan_code=options["plan"],
                every=options["every"],
                paths=options["paths"],
                horizon=options["horizon"],
                block=options["block"],
                seed=options["seed"],
                allow_any_path=True,
            )
            if options["walk_forward"]:
                return self._walk_forward(inputs, options)
            report = evaluation_report(
                inputs, on_progress=None if options["json"] else self._progress(bars)
            )
        except ParameterError as exc:
            raise CommandError(
                "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
            ) from exc
        except (BacktestInputError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for bar in bars.values():
                bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self.stdout.write(render(report))
        return None

    def _walk_forward(self, inputs, options) -> None:
        try:
            in_n, out_n = (int(x) for x in options["walk_forward"].split(","))
        except ValueError as exc:
            raise CommandError("--walk-forward takes IN,OUT session counts, e.g. 250,120") from exc
        grid = {name: [v for v in values.split(",") if v] for name, values in options["sweep"]}
        result = evaluation_walk_forward(
            inputs, grid, in_sample_sessions=in_n, out_of_sample_sessions=out_n
        )
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        for fold in result["folds"]:
            chosen = {name: fold["params"][name] for name in grid}
            self.stdout.write(
                f"IS {fold['in_sample'][0]}..{fold['in_sample'][1]} passed "
                f"{fold['in_sample_passed_share']:.0%} with {json.dumps(chosen)}  |  OOS "
                f"{fold['out_of_sample'][0]}..{fold['out_of_sample'][1]} passed "
                f"{fold['out_of_sample_passed_share']:.0%}"
            )
        if result["gap"] is not None:
            self.stdout.write(
                f"passed within the window: in-sample {result['in_sample_passed_share']:.1%}, "
                f"out-of-sample {result['out_of_sample_passed_share']:.1%} (gap "
                f"{result['gap']:+.1%})"
            )

    def _progress(self, bars: dict):
        def progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                for bar in bars.values():
                    bar.close()
                self.stderr.write(f"{stage.replace('_', ' ')}:")
                bars[stage] = ProgressBar(self.stderr._out, unit="attempts")
            if done == total or done % max(1, total // 100) == 0:  # about 100 redraws a stage
                bars[stage](done, total)

        return progress


def render(report: dict) -> str:
    """The report as a trader reads it."""
    plan = report["plan"]
    lines = [
        f"{report['strategy']} on {report['contract']}, {report['first_date']} .. "
        f"{report['last_date']} ({report['sessions']} sessions)",
        f"plan: {plan['name']} ({plan['code']}): {plan['rules']}; target "
        f"{plan['profit_target_usd']} USD, best day < {float(plan['consistency_share']):.0%} "
        f"of the profit; fee {plan['evaluation_fee_usd'] or 'unknown'} USD",
        *_express_plan(report.get("express_plan")),
        "",
        f"history (an attempt every {report['start_every']} session(s)):",
        *_figures(report["history"]),
    ]
    mc = report.get("monte_carlo")
    if mc:
        lines += [
            "",
            f"Monte Carlo ({mc['paths']:,} paths of {mc['horizon_sessions']} sessions, "
            f"blocks of {mc['block_sessions']}):",
            *_figures(mc),
        ]
    lines.append(f"\n{report['elapsed_seconds']} s")
    return "\n".join(lines)


def _figures(s: dict) -> list[str]:
    rate, interval = s["pass_rate"], s["pass_rate_interval"]
    days = s["days_to_pass"]
    lines = [
        f"  attempts {s['attempts']}: passed {s['passed']}, failed {s['failed']}, "
        f"still running at the end (of the data, or of the path) {s['unfinished']}",
        "  pass rate (of finished attempts): "
        + (
            f"{rate:.1%} (95% interval {interval[0]:.1%} .. {interval[1]:.1%})"
            if rate is not None
            else "n/a (no attempt finished)"
        ),
        f"  passed within the data: {s['passed_share_of_all']:.1%} of all attempts",
    ]
    if days:
        lines.append(
            f"  days to pass: median {days['median']:.0f}, quartiles {days['q1']:.0f} .. "
            f"{days['q3']:.0f}, fastest {days['min']:.0f}"
        )
    if s["failure_reasons"]:
        reasons = ", ".join(f"{k} {v}" for k, v in s["failure_reasons"].items())
        lines.append(f"  failed on: {reasons}")
    lines.append(f"  smallest end-of-day distance to the loss limit: {s['min_headroom_usd']} USD")
    if s["expected_resets_per_pass"] is not None:
        cost = s["cost_per_pass_usd"]
        lines.append(
            f"  expected resets per pass {s['expected_resets_per_pass']:.2f}"
            + (f", costing {float(cost):,.2f} USD per pass" if cost is not None else "")
        )
    lines.append(
        f"  entries refused by the rules {s['refused_entries']:,}; daily-loss-limit days "
        f"{s['daily_limit_days']}; days replayed under the rules {s['replayed_days']}"
    )
    return lines + _express_figures(s.get("express"))


def _express_plan(xfa: dict | None) -> list[str]:
    if xfa is None:
        return ["then: no Express Funded plan with a payout policy for this size"]
    p = xfa["payout_policy"]
    consistency = (
        f" or {p['consistency_days']} trading days with the best day < "
        f"{float(p['consistency_share']):.0%} of the profit (consistency)"
        if p["consistency_days"] is not None
        else ""
    )
    cap = f", at most {p['cap_usd']} USD" if p["cap_usd"] is not None else ""
    return [
        f"then: {xfa['name']} ({xfa['code']}) for up to {xfa['sessions']} sessions: {xfa['rules']}",
        f"  payout after {p['winning_days']} days of {p['winning_day_usd']}+ USD (winning days)"
        f"{consistency}; {float(p['balance_share']):.0%} of the balance{cap}",
    ]


def _express_figures(x: dict | None) -> list[str]:
    if not x or not x["runs"]:
        return []
    first = x["days_to_first_payout"]
    paid = x["paid_per_run_usd"]
    lines = [
        f"  Express Funded ({x['runs']} passed attempts with sessions after the pass): a payout "
        f"reached by {x['with_payout_share']:.1%}",
    ]
    if first:
        lines.append(
            f"    days to the first payout: median {first['median']:.0f}, quartiles "
            f"{first['q1']:.0f} .. {first['q3']:.0f}; payouts "
            + ", ".join(f"{k} {v}" for k, v in x["payout_paths"].items())
            + "; first payouts "
            + ", ".join(f"{k} {v}" for k, v in x["first_payout_paths"].items())
        )
    lines.append(
        f"    paid per XFA: mean {x['mean_paid_per_run_usd']} USD, median {paid['median']:,.2f}, "
        f"best {paid['max']:,.2f}"
        + (
            f"; less the evaluation cost per pass: {x['net_per_pass_usd']} USD"
            if x["net_per_pass_usd"] is not None
            else ""
        )
    )
    reasons = ", ".join(f"{k} {v}" for k, v in x["failure_reasons"].items())
    lines.append(
        f"    XFA failed {x['failed']} ({x['failed_before_payout']} before any payout"
        + (f"; {reasons}" if reasons else "")
        + f"), still funded at the end {x['funded_at_end']}"
    )
    return lines
