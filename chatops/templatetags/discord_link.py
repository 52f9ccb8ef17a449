"""The Discord card of the settings page: the user's link, a code to link, and actions from Discord.

An inclusion tag, so the settings view needs no Discord knowledge: the card reads what it shows here.
"""

from typing import Any

from django import template

from chatops import selectors
from chatops.conf import chatops_config
from web.permissions import is_owner

register = template.Library()
RECENT_ACTIONS = 20


@register.inclusion_tag("chatops/_discord_card.html", takes_context=True)
def discord_card(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    tenant = getattr(request, "tenant", None)
    owner = is_owner(request)
    actions = (
        selectors.discord_action_list(tenant=tenant, user=None if owner else request.user)[
            :RECENT_ACTIONS
        ]
        if tenant is not None
        else []
    )
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "link": selectors.link_get_for_user(user=request.user),
        "is_configured": bool(chatops_config().public_key),
        "actions": actions,
        "sees_whole_desk": owner,
    }
