"""Forms for the pages. Secrets (API keys, webhook URLs) are write-only: their widgets never render a
value back (PasswordInput with render_value=False), and no form is ever built from the stored secret."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from accounts.models import GatewayEnvironment, RiskProfile, Role, TradingAccount
from accounts.services import RISK_PROFILE_EDITABLE
from execution.models import Instrument
from notifications.discord import InvalidWebhookUrl
from notifications.models import NotificationEvent
from notifications.services import webhook_url_check
from strategies.models import StrategyConfig, StrategyKind


class SecretInput(forms.PasswordInput):
    """A password-style box that never echoes a value, even after a failed submit."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"autocomplete": "off", **(attrs or {})}, render_value=False)


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True)
    desk_name = forms.CharField(
        max_length=120, required=False, help_text="Your trading desk (you will be its owner)."
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args: Any, invitation: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            self.fields.pop("desk_name")
            self.fields["email"].initial = invitation.email
            self.fields["email"].disabled = True  # the address the invitation was sent to

    def clean_desk_name(self) -> str:
        name = self.cleaned_data.get("desk_name", "").strip()
        if self.invitation is None and not name:
            raise forms.ValidationError("Name your trading desk.")
        return name


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class BrokerConnectionForm(forms.Form):
    name = forms.CharField(max_length=120)
    environment = forms.ChoiceField(
        choices=GatewayEnvironment.choices, initial=GatewayEnvironment.SIMULATOR
    )
    username = forms.CharField(max_length=150, label="ProjectX username")
    api_key = forms.CharField(label="API key", widget=SecretInput, strip=True)


class ApiKeyForm(forms.Form):
    api_key = forms.CharField(label="New API key", widget=SecretInput, strip=True)


class NotificationChannelForm(forms.Form):
    name = forms.CharField(max_length=120)
    url = forms.URLField(
        label="Discord webhook URL", widget=SecretInput, max_length=500, assume_scheme="https"
    )
    events = forms.MultipleChoiceField(
        choices=NotificationEvent.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    def clean_url(self) -> str:
        """The notifications app's own check (allowed origins, webhook path): our servers POST to
        this URL, so anything else would let a tenant aim them at internal services."""
        url = self.cleaned_data["url"]
        try:
            webhook_url_check(url)
        except InvalidWebhookUrl as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


class RiskProfileForm(forms.ModelForm):
    """Only the fields accounts.services.RISK_PROFILE_EDITABLE allows; the service validates again."""

    class Meta:
        model = RiskProfile
        fields = RISK_PROFILE_EDITABLE  # the service decides what is editable; the form follows
        widgets = {"flat_by_et": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}


class StrategyCreateForm(forms.Form):
    """A new configuration; it starts disabled with the kind's default parameters."""

    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=StrategyKind.choices)
    account = forms.ModelChoiceField(queryset=TradingAccount.all_tenants.none())
    instrument = forms.ModelChoiceField(queryset=Instrument.objects.none(), label="Contract")

    def __init__(self, *args: Any, accounts: Any, instruments: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts  # the current desk's accounts only
        self.fields["instrument"].queryset = instruments


class StrategyMoveForm(forms.Form):
    """The paper-trading switch: the account to move a strategy to. The choices are the current
    desk's accounts; the service decides whether the move is allowed and says why not."""

    account = forms.ModelChoiceField(queryset=TradingAccount.all_tenants.none())

    def __init__(self, *args: Any, accounts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts


class DecisionFilterForm(forms.Form):
    """Filters of the journal's strategy decisions (query parameters, prefixed "decisions-"); the
    choices are the current desk's strategies and accounts, so another desk's ids are invalid."""

    strategy = forms.ModelChoiceField(
        queryset=StrategyConfig.all_tenants.none(), required=False, empty_label="All strategies"
    )
    account = forms.ModelChoiceField(
        queryset=TradingAccount.all_tenants.none(), required=False, empty_label="All accounts"
    )

    def __init__(self, *args: Any, strategies: Any, accounts: Any, **kwargs: Any) -> None:
        super().__init__(*args, prefix="decisions", **kwargs)
        self.fields["strategy"].queryset = strategies
        self.fields["strategy"].label_from_instance = lambda c: f"{c.name} · {c.account.name}"
        self.fields["account"].queryset = accounts

    def filters(self) -> dict[str, Any]:
        """Selector arguments (strategies.selectors.strategy_decision_list) from the valid choices;
        an invalid one (another desk's id, a stale link) filters nothing and shows its error."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        chosen = {"strategy_config": data.get("strategy"), "account": data.get("account")}
        return {name: value for name, value in chosen.items() if value is not None}


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False)


def strategy_params_form(schema: list[dict[str, Any]], data: Any = None, initial: Any = None):
    """A form built from the strategy kind's schema (strategies.engine.params.schema_for).

    Fields are plain text/checkbox inputs: the schema's own parser (run by the service) is the one
    authority on types and limits, so its per-field messages are shown unchanged.
    """
    fields: dict[str, forms.Field] = {}
    for entry in schema:
        label = _label(entry["name"])
        bounds = _bounds(entry)
        help_text = entry["help"] + (f" ({bounds})" if bounds else "")
        if entry["type"] == "bool":
            fields[entry["name"]] = forms.BooleanField(
                label=label, required=False, help_text=help_text
            )
        else:
            attrs = {"inputmode": "decimal" if entry["type"] == "decimal" else "numeric"}
            if entry["type"] == "time":
                attrs = {"placeholder": "HH:MM"}
            fields[entry["name"]] = forms.CharField(
                label=label, help_text=help_text, widget=forms.TextInput(attrs=attrs)
            )
    form_class = type("StrategyParamsForm", (forms.Form,), fields)
    return form_class(data=data, initial=initial)


ACRONYMS = {
    "atr": "ATR",
    "rsi": "RSI",
    "ma": "MA",
    "r": "R",
    "et": "ET",
    "ema": "EMA",
    "adx": "ADX",
}


def _label(name: str) -> str:
    """buffer_ticks -> "Buffer ticks", stop_atr -> "Stop ATR"."""
    words = [ACRONYMS.get(word, word) for word in name.split("_")]
    first = words[0] if words[0] in ACRONYMS.values() else words[0].capitalize()
    return " ".join([first, *words[1:]])


def _bounds(entry: dict[str, Any]) -> str:
    low, high = entry.get("min"), entry.get("max")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""


def params_from_form(schema: list[dict[str, Any]], form: forms.Form) -> dict[str, object]:
    """Raw values for the service: booleans as booleans, everything else as the typed text."""
    raw: dict[str, object] = {}
    for entry in schema:
        value = form.cleaned_data.get(entry["name"])
        raw[entry["name"]] = bool(value) if entry["type"] == "bool" else str(value).strip()
    return raw
