"""Apprise notification classes for the sms-notify gateways: one shared base, and a subclass made
from each registered Provider, built-in or third-party (`schema_classes`).

The classes translate and hold no sending logic. A URL is read by the core's parser
(sms_notify.urls), a text is sent by sms_notify.delivery.deliver (the same batching, retries and
error categories as `sms-notify send`), and the outcome comes back in Apprise's terms: True or
False from send(), one warning per failed recipient, AppriseImproperlyConfigured for bad config.
Tokens, arguments and limits are read from the core's Provider declarations, so a gateway's
options are declared once, in its plugin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from apprise import NotifyBase, NotifyType
from apprise.exception import AppriseImproperlyConfigured
from apprise.url import URL_TOKEN_ALIASES

from sms_notify import urls
from sms_notify.delivery import Clock, RetryPolicy, deliver, gateway_lists, segments_allowed
from sms_notify.errors import ConfigError, ProviderError, SmsError
from sms_notify.manager import providers
from sms_notify.model import COMMON_OPTIONS, Account, Provider, Recipient
from sms_notify.numbers import normalize
from sms_notify.text import GSM_MULTI, GSM_SINGLE

# Query arguments Apprise itself reads on every URL (?format=, ?retry=, ?verify=, ...): they are
# not gateway options, so they never reach the core's parser.
APPRISE_ARGS = frozenset(
    {*NotifyBase.template_args, *URL_TOKEN_ALIASES, "user", "password", "port"}
)
# The common options that become __init__ keywords, in the order url() writes them.
COMMON_KEYWORDS = ("endpoint", "timeout", "region", "max_segments")
PHONE_REGEX = (r"^[0-9\s)(+-]+$", "i")
SCHEMA = re.compile(r"^[a-z0-9]{1,32}$")  # what Apprise takes as a schema name


def _text(value: Any) -> str | None:
    """A keyword's value as URL text: YAML hands over ints, floats and booleans (trap G2)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).strip()


def _raw_targets(targets: Any) -> list[str]:
    """Targets from a URL, YAML (ints, nested lists) or Python: "a,b", 447700900123, [...]."""
    if targets is None or isinstance(targets, bool):
        return []
    if isinstance(targets, (str, int)):
        return [t.strip() for t in str(targets).split(",") if t.strip()]
    return [t for item in targets for t in _raw_targets(item)]


def _strip_apprise_args(url: str) -> str:
    """The URL without Apprise's own query arguments: what the core's parser reads."""
    head, sep, query = url.partition("?")
    if not sep:
        return url
    query, hash_, fragment = query.partition("#")
    kept = [
        pair
        for pair in query.split("&")
        if pair and unquote(pair.partition("=")[0]).lower() not in APPRISE_ARGS
    ]
    rest = "?" + "&".join(kept) if kept else ""
    return head + rest + hash_ + fragment


class SmsNotifyBase(NotifyBase):  # type: ignore[misc]
    """What every gateway's class shares; a subclass names its gateway (`schema_class` makes
    one per Provider).

    A subclass is filled in from the core's Provider for its scheme when it is defined: service
    name, credentials layout (TOKEN@ or USER:PASSWORD@), provider-specific options.
    """

    gateway: ClassVar[str] = ""

    # The title is merged into the body: SMS has no title.
    title_maxlen = 0
    # One GSM-7 part; an instance with max_segments raises it (only ?overflow=split|truncate use it).
    body_maxlen = GSM_SINGLE
    # The core batches recipients into as few requests as the gateway allows and paces its own
    # retries; Apprise's default of 5.5 s between requests would only add waiting.
    request_rate_per_sec = 0

    # The policy and clock deliver() runs with; tests make the clock instant.
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy()
    clock_factory: ClassVar[Callable[[], Clock]] = Clock

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.gateway:
            return
        provider = providers().get(cls.gateway)
        # These APIs choose http or https by endpoint=, never by a trailing "s" (trap G1).
        cls.secure_protocol = cls.gateway  # type: ignore[assignment]
        cls.protocol = None
        cls.service_name = provider.name if provider else cls.gateway  # type: ignore[assignment]
        token = provider is not None and provider.credentials == ("token",)
        cls.templates = _templates(token)  # type: ignore[assignment]
        cls.template_tokens = _template_tokens(token)
        cls.template_args = _template_args(provider)

    def __init__(
        self,
        targets: Any = None,
        source: Any = None,
        endpoint: Any = None,
        timeout: Any = None,
        region: Any = None,
        max_segments: Any = None,
        **kwargs: Any,
    ) -> None:
        """Check the account through the core's parser and keep the targets that can be numbers.

        Provider-specific options (list=, group=, phonebook=, live=, ...) arrive as keywords named
        after the option.
        """
        super().__init__(**kwargs)
        provider = self._provider()
        given: dict[str, Any] = {
            "from": source,
            "endpoint": endpoint,
            "timeout": timeout,
            "region": region,
            "max_segments": max_segments,
            **{name: kwargs.get(name) for name in _own_options(provider)},
        }
        options = {k: v for k, v in ((k, _text(v)) for k, v in given.items()) if v}
        known = {*COMMON_OPTIONS, *_own_options(provider), *APPRISE_ARGS}
        qsd = kwargs.get("qsd")
        if isinstance(qsd, Mapping):
            options.update({k: str(v) for k, v in qsd.items() if k not in known})
        self.account = self._checked_account(provider, options)
        self.targets = self._valid_targets(targets, self.account.options.get("region"))
        self.account = replace(self.account, targets=tuple(self.targets))
        self.secure = (self.account.options.get("endpoint") or provider.base_url).startswith(
            "https://"
        )
        segments = segments_allowed(self.account, provider, 1)
        self.body_maxlen = GSM_SINGLE if segments == 1 else GSM_MULTI * segments

    @classmethod
    def _provider(cls) -> Provider:
        provider = providers().get(cls.gateway)
        if provider is None:
            msg = (
                f"sms-notify has no {cls.gateway}:// provider loaded (is its plugin installed and "
                "allowed by SMS_NOTIFY_LOAD_PLUGINS?)"
            )
            raise AppriseImproperlyConfigured(msg)
        return provider

    def _checked_account(self, provider: Provider, options: dict[str, str]) -> Account:
        """The account as the core reads it: credentials layout, option names and values, sender."""
        creds = quote(self.user or "", safe="")
        if self.password:
            creds += ":" + quote(self.password, safe="")
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in options.items())
        try:
            account = urls.parse(f"{self.gateway}://{creds}@?{query}", providers())
        except ConfigError as exc:
            msg = f"{provider.name} URL: {exc}"
            self.logger.warning(msg)
            raise AppriseImproperlyConfigured(msg) from None
        return account

    def _valid_targets(self, targets: Any, region: str | None) -> list[str]:
        """E.164 numbers; one that cannot be a phone number is dropped with a warning."""
        valid: list[str] = []
        for raw in _raw_targets(targets):
            try:
                number = normalize(raw, region)
            except ProviderError as exc:
                self.logger.warning("Dropped invalid phone # (%s) specified: %s", raw, exc.text)
                continue
            if number not in valid:
                valid.append(number)
        return valid

    @property
    def provider(self) -> Provider:
        return self._provider()

    @property
    def lists(self) -> list[Recipient]:
        """Gateway-side lists the account's options name (?list=, ?group=, ?phonebook=)."""
        return gateway_lists(self.account)

    @property
    def url_identifier(self) -> tuple[str, ...]:  # type: ignore[override]
        """The account and where it sends, never its targets."""
        endpoint = self.account.options.get("endpoint") or self.provider.base_url
        return (self.gateway, self.account.user, self.account.password, endpoint)

    def url(self, privacy: bool = False, *args: Any, **kwargs: Any) -> str:
        """The provider URL as `sms-notify` writes it, secrets masked when `privacy`, then
        Apprise's own arguments."""
        base = urls.build(self.account, providers(), masked=privacy)
        extra = self.urlencode(self.url_parameters(*args, privacy=privacy, **kwargs))
        if not extra:
            return base
        return f"{base}{'&' if '?' in base else '?'}{extra}"

    def __len__(self) -> int:
        """Gateway requests one notification takes, as the core makes them: numbers batched,
        each list in a request of its own."""
        per = max(1, self.provider.max_recipients)
        return max(1, math.ceil(len(self.targets) / per) + len(self.lists))

    def send(
        self, body: str, title: str = "", notify_type: NotifyType = NotifyType.INFO, **kwargs: Any
    ) -> bool:
        """Hand the text to the core; True only when every number and list took it.

        A recipient that took the text is marked delivered, so Apprise's ?retry= resends only to
        the others; so is one whose outcome is unknown (it may have it: it is not sent twice).
        """
        if not self.targets and not self.lists:
            self.logger.warning(f"There are no valid {self.service_name} targets to notify.")
            return False
        numbers = [t for t in self.targets if not self.is_delivered(t)]
        options = {
            k: v
            for k, v in self.account.options.items()
            if k not in self.provider.list_options or not self.is_delivered(f"{k}:{v}")
        }
        account = replace(self.account, targets=tuple(numbers), options=options)
        if not numbers and not any(k in self.provider.list_options for k in options):
            return True
        self.throttle()
        try:
            clock = type(self).clock_factory()
            receipts = deliver([account], body, policy=self.retry_policy, clock=clock)
        except SmsError as exc:
            self.logger.warning(f"Failed to send {self.service_name} SMS: {exc}")
            return False
        ok = True
        for receipt in receipts:
            recipient = receipt.recipient
            who = recipient.address
            if recipient.kind != "number":
                who = f"{recipient.kind}:{who}"
            if receipt.ok:
                self.mark_delivered(who)
                self.logger.info(
                    f"Sent {self.service_name} SMS to {who} (id {receipt.message_id or '-'})."
                )
                continue
            ok = False
            error = receipt.error.describe() if receipt.error else "failed"
            if receipt.unconfirmed:  # it may have gone out: Apprise's retry= must not resend it
                self.mark_delivered(who)
                error += "; the gateway may have sent it, so it is not sent again"
            self.logger.warning(f"Failed to send {self.service_name} SMS to {who}: {error}")
        return ok

    @classmethod
    def parse_url(cls, url: Any) -> dict[str, Any] | None:  # type: ignore[override]
        """Apprise's parse for its own arguments; the core's parse for the account and targets.

        When the core refuses the URL, Apprise's reading is kept and __init__ refuses it with the
        core's message.
        """
        results = NotifyBase.parse_url(url, verify_host=False)
        if not results:
            return results
        try:
            account = urls.parse(_strip_apprise_args(url), providers())
        except ConfigError:
            qsd = results["qsd"]
            host = [cls.unquote(results["host"])] if results.get("host") else []
            targets = [*host, *cls.split_path(results["fullpath"]), *_raw_targets(qsd.get("to"))]
            options = {k: v for k, v in qsd.items() if k not in APPRISE_ARGS and k != "to"}
        else:
            results["user"] = quote(account.user, safe="") or None
            results["password"] = quote(account.password, safe="") or None
            targets = list(account.targets)
            options = dict(account.options)
        results["targets"] = targets
        results["source"] = options.pop("from", None)
        provider = providers().get(cls.gateway)
        for key in (*COMMON_KEYWORDS, *(_own_options(provider) if provider else ())):
            if key in options:
                results[key] = options[key]
        return results


def _templates(token: bool) -> tuple[str, ...]:
    creds = "{token}" if token else "{user}:{password}"
    return (f"{{schema}}://{creds}@{{targets}}", f"{{schema}}://{creds}@")


def _template_tokens(token: bool) -> dict[str, dict[str, Any]]:
    tokens: dict[str, dict[str, Any]] = dict(NotifyBase.template_tokens)
    if token:
        tokens["token"] = {
            "name": "Token",
            "type": "string",
            "private": True,
            "required": True,
            "map_to": "user",
        }
    else:
        tokens["user"] = {"name": "Username", "type": "string", "required": True}
        tokens["password"] = {
            "name": "Password",
            "type": "string",
            "private": True,
            "required": True,
        }
    tokens["target_phone"] = {
        "name": "Target Phone No",
        "type": "string",
        "prefix": "+",
        "regex": PHONE_REGEX,
        "map_to": "targets",
    }
    tokens["targets"] = {"name": "Targets", "type": "list:string"}
    return tokens


def _template_args(provider: Provider | None) -> dict[str, dict[str, Any]]:
    args: dict[str, dict[str, Any]] = dict(NotifyBase.template_args)
    args.update(
        {
            "to": {"alias_of": "targets"},
            "from": {"name": "From", "type": "string", "map_to": "source"},
            "source": {"alias_of": "from"},
            "endpoint": {"name": "Endpoint", "type": "string"},
            "timeout": {"name": "Timeout", "type": "float", "min": 0},
            "region": {"name": "Region", "type": "string", "regex": (r"^[a-z]{2}$", "i")},
            "max_segments": {"name": "Max Segments", "type": "int", "min": 1},
        }
    )
    if provider is not None and provider.credentials == ("token",):
        args["token"] = {"alias_of": "token"}  # ?token= as well as TOKEN@
    for name in _own_options(provider) if provider else ():
        args[name] = {"name": name.replace("_", " ").title(), "type": "string"}
    return args


def _own_options(provider: Provider) -> list[str]:
    """The query arguments of this gateway beyond the common ones (list=, live=, validity=)."""
    return [name for name in provider.url_options if name not in COMMON_OPTIONS]


_classes: dict[str, tuple[Provider, type[SmsNotifyBase]]] = {}


def schema_class(provider: Provider) -> type[SmsNotifyBase]:
    """The Apprise class of one gateway, made once per Provider (Apprise's manager compares
    classes: registering again must find the same one)."""
    made = _classes.get(provider.scheme)
    if made is None or made[0] != provider:
        words = re.sub(r"[^0-9A-Za-z]+", " ", provider.name).split()
        name = "Notify" + "".join(w[:1].upper() + w[1:] for w in words)
        doc = f"{provider.name}: {provider.url_form}" + (f" ({provider.summary})"
                                                         if provider.summary else "")
        made = _classes[provider.scheme] = provider, type(name, (SmsNotifyBase,), {
            "__doc__": doc, "__module__": __name__, "gateway": provider.scheme,
            "service_url": provider.base_url,
        })
    return made[1]


def schema_classes() -> dict[str, type[SmsNotifyBase]]:
    """An Apprise class for every registered gateway whose scheme Apprise can take as a schema
    name (lower-case letters and digits, at most 32), by scheme."""
    return {scheme: schema_class(provider) for scheme, provider in sorted(providers().items())
            if SCHEMA.match(scheme)}
