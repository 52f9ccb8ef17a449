"""Matching, fills, positions and P&L (parity with the backtester; every fill decision is a call
into markets/fills.py).

* A MARKET order (and the market order of `Position/closeContract`) fills with
  `fill_price(MARKET, ...)` on a single price. Stepped clock: the next price the clock emits,
  i.e. the next bar's open, exactly as the backtester fills a market order decided on the
  previous close. Real-time or accelerated clock: at once, at the last price printed (as the
  gateway fills it), and at the next print only if nothing has printed yet. Bracket children of
  an entry filled at once work from the next bar.
* Resting orders (limit, stop, trailing stop, join bid/ask) are matched against a bar only when
  the bar completes, with `fill_price` / `trailing_stop_step`. An order that arrives while a bar
  is being played acts from the NEXT bar (no look-ahead inside the bar); an order that arrives
  between bars (always so in stepped mode) acts from the next bar to open.
* Bracket children (stopLossBracket / takeProfitBracket) are created with status 8 Suspended and
  priced from the entry's fill price when it fills. If the entry filled at a bar's open (a market
  entry), the children already work on that bar (the backtester attaches the bracket to the
  position from its entry bar); if the entry filled later in the bar (at a path point or at the
  bar's completion), they work from the next bar. When both legs work on a bar they are judged
  together by `bracket_exit` (stop-loss first when a bar touches both: the conservative rule);
  one leg filling cancels the other (OCO). When a position goes flat any other way, its
  remaining bracket children are cancelled.
* Orders fill completely or not at all (no partial fills).
* Positions net per (account, contract). Realised P&L uses FIFO lots (exact to the cent);
  `averagePrice` is the size-weighted average of open lots. Each fill is one half-turn trade:
  `profitAndLoss` null when it only opened or added, else the gross P&L of the part it closed;
  `fees` = fee per side x size. Balance += P&L - fees at every fill.

A mixin of `simulator.engine.Engine`: orders, positions, trades and accounts live there; every
change is written through its store and announced as a hub event (trade, order, position,
account, in that order).
"""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from markets import fills
from markets.ticks import ContractSpec
from simulator.market import Series, root_of, spec_for_root
from simulator.records import (
    BUY,
    CANCELLED,
    FILLED,
    LIMIT,
    MARKET,
    OPEN,
    SELL,
    STOP,
    SUSPENDED,
    TRAILING,
    US,
    WORKING,
    Account,
    Order,
    Position,
    Quote,
    SimConfig,
    Trade,
    _dec,
    _ts,
)


class Matching:
    """Matches working orders against bars and books their fills into positions and balances."""

    config: SimConfig
    series: dict[str, Series]
    quotes: dict[str, Quote]
    accounts: dict[int, Account]
    orders: dict[int, Order]
    positions: dict[tuple[int, str], Position]
    trades: dict[int, Trade]
    events: list[Any]
    now_us: int
    cur_t: int | None

    def _working(self, root: str) -> list[Order]:
        return sorted(
            (
                o
                for o in self.orders.values()
                if o.status in WORKING and root_of(o.contract_id) == root
            ),
            key=lambda o: o.id,
        )

    def _complete_bar(self) -> None:
        assert self.cur_t is not None
        t = self.cur_t
        for root, series in self.series.items():
            bar = series.bar_at(t)
            if bar is None:
                continue
            _, o, h, low, c, _ = bar
            done: set[int] = set()
            for order in self._working(root):
                if order.id in done or order.status not in WORKING or order.type == MARKET:
                    continue
                if order.eligible_from > t:
                    continue
                sibling = self.orders.get(order.linked_id) if order.linked_id else None
                if sibling is not None and sibling.status in WORKING and sibling.eligible_from <= t:
                    done.update((order.id, sibling.id))
                    self._match_bracket(order, sibling, o, h, low, c)
                else:
                    done.add(order.id)
                    self._match_single(order, o, h, low, c)

    def _match_single(self, order: Order, o: int, h: int, low: int, c: int) -> None:
        if order.type == TRAILING:
            assert order.stop_ticks is not None
            assert order.trail_ticks is not None
            price, level = fills.trailing_stop_step(
                order.side, order.stop_ticks, o, h, low, order.trail_ticks
            )
            if price is None:
                self._retrail(order, level)
                return
        else:
            price = fills.fill_price(
                order.type if order.type in (LIMIT, STOP) else LIMIT,
                order.side,
                o,
                h,
                low,
                c,
                limit_ticks=order.limit_ticks,
                stop_ticks=order.stop_ticks,
            )
        if price is not None:
            self._fill(order, price, children_from=None)

    def _match_bracket(self, a: Order, b: Order, o: int, h: int, low: int, c: int) -> None:
        sl, tp = (a, b) if a.role == "sl" else (b, a)
        entry_side = BUY if sl.side == SELL else SELL
        try:
            result = fills.bracket_exit(
                entry_side, o, h, low, c, stop_ticks=sl.stop_ticks, target_ticks=tp.limit_ticks
            )
        except ValueError:  # legs modified across each other: judge them one by one, SL first
            self._match_single(sl, o, h, low, c)
            if tp.status in WORKING:
                self._match_single(tp, o, h, low, c)
            return
        if result is None:
            if sl.type == TRAILING:
                assert sl.stop_ticks is not None
                assert sl.trail_ticks is not None
                self._retrail(
                    sl, fills.trail_stop_level(sl.side, sl.stop_ticks, h, low, sl.trail_ticks)
                )
            return
        leg, price = result
        self._fill(sl if leg == fills.STOP_LOSS else tp, price, children_from=None)

    def _retrail(self, order: Order, level: int) -> None:
        if level != order.stop_ticks:
            order.stop_ticks, order.updated_us = level, self.now_us
            self._save_order(order)
            self._order_event(order)

    # -- fills, positions, P&L --------------------------------------------------------------------
    def _fill(self, order: Order, price: int, *, children_from: int | None) -> None:
        """Fill `order` completely at `price` ticks; children work from `children_from` (or the
        next bar) and the documented event order is emitted: trade, order, position, account."""
        account = self.accounts[order.account_id]
        spec = spec_for_root(root_of(order.contract_id))
        signed = order.size if order.side == BUY else -order.size
        pnl = self._apply_position(order, price, signed, spec)
        fees = spec.fee_per_side_usd * order.size
        balance = Decimal(account.balance) + (pnl or 0) - fees
        account.balance = str(balance)
        trade = Trade(
            self._next_id("trade"),
            account.id,
            order.contract_id,
            self.now_us,
            price,
            None if pnl is None else str(pnl),
            str(fees),
            order.side,
            order.size,
            order.id,
        )
        self.trades[trade.id] = trade
        order.status, order.fill_volume, order.filled_ticks = FILLED, order.size, price
        order.updated_us = self.now_us
        self.store.put("trades", trade.id, asdict(trade))
        self._save_order(order)
        self._save_account(account)
        self.events.append(("trades", account.id, "GatewayUserTrade", self.trade_payload(trade)))
        self._order_event(order)
        pos = self.positions.get((account.id, order.contract_id))
        if pos is not None:
            payload = self.position_payload(pos)
            if pos.net == 0:  # size 0 = closed; keep the side it had (a sell closed a long)
                payload["type"] = 1 if order.side == SELL else 2
            self.events.append(("positions", account.id, "GatewayUserPosition", payload))
            if pos.net == 0:
                del self.positions[(account.id, order.contract_id)]
                self.store.delete("positions", f"{account.id}:{order.contract_id}")
        self.events.append(
            ("accounts", account.id, "GatewayUserAccount", self.account_payload(account))
        )
        self._after_fill(order, price, children_from)
        self._save_meta()

    def _apply_position(
        self, order: Order, price: int, signed: int, spec: ContractSpec
    ) -> Decimal | None:
        key = (order.account_id, order.contract_id)
        pos = self.positions.get(key)
        if pos is None or pos.net == 0:
            pos = Position(
                self._next_id("position"), order.account_id, order.contract_id, self.now_us, []
            )
            self.positions[key] = pos
        pnl: Decimal | None = None
        remaining = signed
        while remaining and pos.lots and (pos.lots[0][1] > 0) != (remaining > 0):
            lot_price, lot_qty = pos.lots[0]
            qty = min(abs(lot_qty), abs(remaining))
            direction = 1 if lot_qty > 0 else -1
            pnl = (pnl or Decimal(0)) + spec.pnl_usd(lot_price, price, qty * direction)
            lot_qty -= qty * direction
            remaining += qty * direction
            if lot_qty == 0:
                pos.lots.pop(0)
            else:
                pos.lots[0][1] = lot_qty
        if remaining:
            if not pos.lots:
                pos.created_us = self.now_us if pos.net == 0 else pos.created_us
            pos.lots.append([price, remaining])
        self._save_position(pos)
        return pnl

    def _after_fill(self, order: Order, price: int, children_from: int | None) -> None:
        assert self.cur_t is not None or children_from is None
        eligible = (
            children_from
            if children_from is not None
            else ((self.cur_t + 1) if self.cur_t is not None else self.now_us // US + 1)
        )
        for child in self._children(order):
            if child.status != SUSPENDED:
                continue
            assert child.bracket_offset is not None
            level = price + child.bracket_offset
            if child.type == TRAILING:
                child.trail_ticks = abs(child.bracket_offset)
                child.stop_ticks = fills.trail_initial_level(child.side, price, child.trail_ticks)
            elif child.type == LIMIT:
                child.limit_ticks = level
            else:
                child.stop_ticks = level
            child.status, child.eligible_from, child.updated_us = OPEN, eligible, self.now_us
            self._save_order(child)
            self._order_event(child)
        if order.linked_id:
            sibling = self.orders.get(order.linked_id)
            if sibling is not None and sibling.status in (*WORKING, SUSPENDED):
                self._cancel(sibling)
        if (order.account_id, order.contract_id) not in self.positions:
            for other in self.orders.values():  # flat: orphaned bracket legs are cancelled
                if (
                    other.account_id == order.account_id
                    and other.contract_id == order.contract_id
                    and other.role
                    and other.status in WORKING
                ):
                    self._cancel(other)

    def _children(self, order: Order) -> list[Order]:
        return [o for o in self.orders.values() if o.parent_id == order.id]

    def _cancel(self, order: Order) -> None:
        order.status, order.updated_us = CANCELLED, self.now_us
        self._save_order(order)
        self._order_event(order)
        for child in self._children(order):
            if child.status == SUSPENDED:
                self._cancel(child)

    # -- payloads ----------------------------------------------------------------------------------
    def order_payload(self, o: Order) -> dict[str, Any]:
        spec = spec_for_root(root_of(o.contract_id))
        price = spec.from_ticks
        return {
            "id": o.id,
            "accountId": o.account_id,
            "contractId": o.contract_id,
            "symbolId": spec.symbol_id,
            "creationTimestamp": _ts(o.created_us),
            "updateTimestamp": _ts(o.updated_us),
            "status": o.status,
            "type": o.type,
            "side": o.side,
            "size": o.size,
            "limitPrice": None if o.limit_ticks is None else price(o.limit_ticks),
            "stopPrice": None if o.stop_ticks is None else price(o.stop_ticks),
            "fillVolume": o.fill_volume,
            "filledPrice": None if o.filled_ticks is None else price(o.filled_ticks),
            "customTag": o.custom_tag,
            "trailPrice": price(o.stop_ticks)
            if o.type == TRAILING and o.stop_ticks is not None
            else None,
            "trailDistance": o.trail_ticks,
            "parentOrderId": o.parent_id,
            "linkedOrderId": o.linked_id,
        }

    def position_payload(self, p: Position) -> dict[str, Any]:
        spec = spec_for_root(root_of(p.contract_id))
        net = p.net
        cost = sum(px * q for px, q in p.lots)
        avg = (Decimal(cost) / Decimal(net) * spec.tick_size) if net else Decimal(0)
        return {
            "id": p.id,
            "accountId": p.account_id,
            "contractId": p.contract_id,
            "contractDisplayName": f"{spec.contract_id}{p.contract_id.rsplit('.', 1)[1]}",
            "creationTimestamp": _ts(p.created_us),
            "type": 1 if net > 0 else 2 if net else 0,
            "size": abs(net),
            "averagePrice": avg.quantize(Decimal("0.000000001")),
        }

    def trade_payload(self, t: Trade) -> dict[str, Any]:
        spec = spec_for_root(root_of(t.contract_id))
        return {
            "id": t.id,
            "accountId": t.account_id,
            "contractId": t.contract_id,
            "creationTimestamp": _ts(t.created_us),
            "price": spec.from_ticks(t.price_ticks),
            "profitAndLoss": _dec(t.pnl),
            "fees": Decimal(t.fees),
            "side": t.side,
            "size": t.size,
            "voided": t.voided,
            "orderId": t.order_id,
        }

    def _order_event(self, order: Order) -> None:
        self.events.append(
            ("orders", order.account_id, "GatewayUserOrder", self.order_payload(order))
        )

    def unrealized(self, account_id: int) -> Decimal:
        total = Decimal(0)
        for (acc, cid), pos in self.positions.items():
            if acc != account_id:
                continue
            spec = spec_for_root(root_of(cid))
            last = self.quotes[spec.contract_id].last
            if last is not None:
                total += sum((spec.pnl_usd(px, last, q) for px, q in pos.lots), Decimal(0))
        return total

    def _fill_at_once_on_a_wall_clock(self, order: Order) -> None:
        """On a clock driven by wall time a market order fills at once at the last price, as the
        gateway fills it; the stepped clock leaves it for the next price it plays (the
        backtester's next-open rule). Either way the rule is `fill_price(MARKET, ...)` on one
        price: only when it is applied differs."""
        if order.type != MARKET or self.config.speed is None:
            return
        last = self.quotes[root_of(order.contract_id)].last
        if last is None:
            return  # nothing printed yet: the first price the clock plays fills it
        self._fill(
            order, fills.fill_price(MARKET, order.side, last, last, last, last), children_from=None
        )
