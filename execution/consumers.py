"""Live push to dashboards. Consumers authorise and join groups; they never write to the database.

A socket lives only while its user is a member of the account's tenant: removing the member closes
it at once (a message to the user's group), and the membership is checked again at most every
RECHECK_SECONDS while events flow, in case that message was lost.
"""

import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts import selectors
from execution.realtime import account_group, user_group

FORBIDDEN = 4403  # unknown, forbidden and no-longer-allowed look the same


class AccountConsumer(AsyncJsonWebsocketConsumer):
    RECHECK_SECONDS = 60.0

    tenant_id: int | None = None
    account_id: int | None = None
    recheck_at: float = 0.0
    is_refused = False  # closed by us: events still queued for this socket are dropped

    async def connect(self) -> None:
        self.joined: list[str] = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse()
            return
        # Join the user's group before reading the membership: a removal committed after the read
        # then still reaches this socket.
        await self._join(user_group(user_id=user.pk))
        account = await self._allowed_account()
        if account is None:
            await self._refuse()
            return
        self.tenant_id, self.account_id = account.tenant_id, account.pk
        await self._join(account_group(tenant_id=account.tenant_id, account_id=account.pk))
        self.recheck_at = time.monotonic() + self.RECHECK_SECONDS
        await self.accept()
        await self.send_json({"type": "hello", "account": str(account.public_id)})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def account_event(self, event: dict[str, Any]) -> None:  # group_send type "account.event"
        if self.is_refused:
            return
        if time.monotonic() >= self.recheck_at:
            if await self._allowed_account() is None:
                await self._refuse()
                return
            self.recheck_at = time.monotonic() + self.RECHECK_SECONDS
        await self.send_json(event["payload"])

    async def membership_revoked(self, event: dict[str, Any]) -> None:  # "membership.revoked"
        if event["tenant_id"] == self.tenant_id and not self.is_refused:
            await self._refuse()

    async def _refuse(self) -> None:
        self.is_refused = True
        await self.close(code=FORBIDDEN)

    async def _join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def _allowed_account(self) -> Any:
        account_id = self.account_id or self.scope["url_route"]["kwargs"]["account_id"]
        return await database_sync_to_async(selectors.trading_account_get_for_user)(
            user=self.scope["user"], account_id=account_id
        )
