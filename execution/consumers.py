"""Live push to dashboards. Consumers authorise and join groups; they never write to the database."""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts import selectors
from execution.realtime import account_group


class AccountConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        account_id = self.scope["url_route"]["kwargs"]["account_id"]
        account = None
        if user is not None and user.is_authenticated:
            account = await database_sync_to_async(selectors.trading_account_get_for_user)(
                user=user, account_id=account_id
            )
        if account is None:  # unknown and forbidden look the same
            await self.close(code=4403)
            return
        self.group = account_group(tenant_id=account.tenant_id, account_id=account.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "account": str(account.public_id)})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def account_event(self, event: dict[str, Any]) -> None:  # group_send type "account.event"
        await self.send_json(event["payload"])
