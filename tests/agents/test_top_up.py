"""top_up_wallet: absent without --allow-top-up; with it, always confirmed and capped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from eth_account import Account

from inpaint_async.testing import Emulator

from .conftest import WALLET_KEY, Answers, connect, error_of

ADDRESS = Account.from_key(WALLET_KEY).address


@pytest.fixture
def wallet_env(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> Emulator:
    """The server's environment: a funded wallet key, no API key."""
    for name in ("VENICE_API_KEY", "VENICE_WALLET_KEYSTORE", "VENICE_WALLET_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VENICE_WALLET_KEY", WALLET_KEY)
    monkeypatch.setenv("VENICE_BASE_URL", emu.base_url)
    emu.fund_wallet(ADDRESS, "1")
    return emu


async def tool_names(app: Any) -> set[str]:
    async with connect(app) as client:
        return {t.name for t in (await client.list_tools()).tools}


async def test_invisible_without_the_flag_or_a_wallet(
    wallet_env: Emulator, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --allow-top-up: no tool. --allow-top-up with an API key: no tool either."""
    assert "top_up_wallet" not in await tool_names(make_app())
    assert "top_up_wallet" in await tool_names(make_app(allow_top_up=True, ledger_path=":memory:"))
    monkeypatch.delenv("VENICE_WALLET_KEY")
    monkeypatch.setenv("VENICE_API_KEY", wallet_env.api_key)
    assert "top_up_wallet" not in await tool_names(
        make_app(allow_top_up=True, ledger_path=":memory:")
    )


async def test_confirmed_top_up_is_credited_and_counted(
    wallet_env: Emulator, make_app: Any
) -> None:
    """Accepted: credited once, and the signed amount is in the ledger's 24 hours. Even with
    --no-confirm the user is asked."""
    app = make_app(allow_top_up=True, no_confirm=True)
    answers = Answers()
    async with connect(app, answers) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("top_up_wallet", {"amount_usd": "5"})
    a = tools["top_up_wallet"].annotations
    assert a is not None and (a.read_only_hint, a.idempotent_hint) == (False, False)
    assert not result.is_error, result.structured_content
    assert len(answers.questions) == 1 and "$5.00 of USDC" in answers.questions[0]
    assert [c.amount_usd for c in wallet_env.credits_for(ADDRESS)] == [Decimal(5)]
    status = await app.ledger.status()
    assert status.signed_24h_usd == Decimal(5)


@pytest.mark.parametrize(
    ("answers", "code"),
    [(Answers("decline"), "confirmation_declined"), (None, "confirmation_unavailable")],
)
async def test_not_confirmed_signs_nothing(
    wallet_env: Emulator, make_app: Any, answers: Answers | None, code: str
) -> None:
    """Declined, or a client that cannot ask: nothing signed, nothing credited."""
    app = make_app(allow_top_up=True, no_confirm=True)
    async with connect(app, answers) as client:
        result = await client.call_tool("top_up_wallet", {"amount_usd": "5"})
    assert error_of(result)["code"] == code
    assert wallet_env.credits_for(ADDRESS) == []
    assert (await app.ledger.status()).signed_total_usd == 0


async def test_bounded_by_the_caps(wallet_env: Emulator, make_app: Any) -> None:
    """Above --max-top-up-usd: refused unasked. Within it but over --max-top-up-per-day-usd with
    what was already signed: refused. Nothing signed for either."""
    app = make_app(allow_top_up=True, max_top_up_usd=Decimal(6), max_top_up_per_day_usd=Decimal(8))
    answers = Answers()
    async with connect(app, answers) as client:
        too_big = await client.call_tool("top_up_wallet", {"amount_usd": "7"})
        first = await client.call_tool("top_up_wallet", {"amount_usd": "5"})
        second = await client.call_tool("top_up_wallet", {"amount_usd": "5"})
        nonsense = await client.call_tool("top_up_wallet", {"amount_usd": "-1"})
    assert error_of(too_big)["code"] == "top_up_cap_exceeded"
    assert not first.is_error, first.structured_content
    err = error_of(second)
    assert err["code"] == "top_up_cap_exceeded" and "$8.00" in err["message"]
    assert error_of(nonsense)["code"] == "invalid_request"
    assert len(answers.questions) == 1
    assert [c.amount_usd for c in wallet_env.credits_for(ADDRESS)] == [Decimal(5)]


async def test_top_ups_signed_elsewhere_count(
    wallet_env: Emulator, make_app: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A $5 top-up the CLI signed with the same ledger file counts: a $5 top-up under an $8
    per-day cap is refused, unasked and unsigned. A pinned payee that the server does not offer
    is refused too."""
    import time

    from inpaint_async.spend import AuthorizationRecord, open_ledger

    ledger_file = tmp_path / "wallet.sqlite3"
    other = open_ledger(ADDRESS.lower(), ledger_file)
    await other.record_authorization(
        AuthorizationRecord(
            nonce="0x" + "ee" * 32, kind="manual", amount_usd=Decimal(5), payee="0x" + "12" * 20,
            asset="0x" + "34" * 20, network="eip155:8453", valid_before=int(time.time()) + 600,
            signed_at=time.time(),
        )
    )  # fmt: skip
    app = make_app(allow_top_up=True, ledger_path=ledger_file, max_top_up_per_day_usd=Decimal(8))
    answers = Answers()
    async with connect(app, answers) as client:
        refused = await client.call_tool("top_up_wallet", {"amount_usd": "5"})
        monkeypatch.setenv("VENICE_PAYEE", "0x" + "99" * 20)
        unpinned = await client.call_tool("top_up_wallet", {"amount_usd": "1"})
    err = error_of(refused)
    assert err["code"] == "top_up_cap_exceeded" and "$10.00" in err["message"]
    err = error_of(unpinned)
    assert "not a pinned payee" in err["message"] and err["may_have_been_charged"] is False
    assert answers.questions == []
    assert wallet_env.credits_for(ADDRESS) == []


async def test_the_day_cap_binds_at_the_signature(
    wallet_env: Emulator, make_app: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process signs $5 after this server's early check passed (the race of two
    processes at the same instant): the ledger, which checks the day cap in the transaction that
    records the signature, still refuses the second $5 under an $8 cap. Nothing is credited."""
    import time

    from inpaint_async.mcp import _top_up
    from inpaint_async.spend import AuthorizationRecord, open_ledger

    ledger_file = tmp_path / "wallet.sqlite3"
    app = make_app(allow_top_up=True, ledger_path=ledger_file, max_top_up_per_day_usd=Decimal(8))
    checked = _top_up.check_top_up
    calls: list[Decimal] = []

    async def check_then_race(app_: Any, amount: Decimal) -> None:
        await checked(app_, amount)
        calls.append(amount)
        # The question's check, the call's, then the one under the lock just before signing:
        if len(calls) == 3:  # the last check has passed; now the other process signs
            await open_ledger(ADDRESS.lower(), ledger_file).record_authorization(
                AuthorizationRecord(
                    nonce="0x" + "ee" * 32, kind="manual", amount_usd=Decimal(5),
                    payee="0x" + "12" * 20, asset="0x" + "34" * 20, network="eip155:8453",
                    valid_before=int(time.time()) + 600, signed_at=time.time(),
                )
            )  # fmt: skip

    monkeypatch.setattr(_top_up, "check_top_up", check_then_race)
    async with connect(app, Answers()) as client:
        refused = await client.call_tool("top_up_wallet", {"amount_usd": "5"})
    err = error_of(refused)
    assert err["code"] == "top_up_cap_exceeded", err
    assert len(calls) == 3
    assert wallet_env.credits_for(ADDRESS) == []
    assert (await app.ledger.status()).signed_24h_usd == Decimal(5)
