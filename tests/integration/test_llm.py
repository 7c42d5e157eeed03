"""The LLM client against the fake OpenAI-compatible server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trustme
from pypdf import PdfReader

from pdfprompt.devtools.fake_llm import FakeLlm, hostile_document
from pdfprompt.domain import LlmError, LlmKeysCoolingError, RenderOptions
from pdfprompt.generate import KeyRing, LlmClient, clean_document, messages
from pdfprompt.render import renderer_from_settings
from pdfprompt.settings import Settings
from tests.support.prompts import served_port
from tests.support.receiver import Receiver
from tests.support.waiting import ManualClock

SECRETS = ("sk-test-AAAA-secret-one", "sk-test-BBBB-secret-two")


@pytest.fixture
def fake() -> Iterator[tuple[FakeLlm, str]]:
    """The fake LLM served on a free port, in a thread."""
    fake = FakeLlm(stream=True)
    with served_port(fake) as port:
        yield fake, f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def client(fake: tuple[FakeLlm, str]) -> AsyncIterator[LlmClient]:
    """A client whose keys cool down on a clock that stands still (`client.keys` has it)."""
    keys = KeyRing(SECRETS, cooldown_s=30, clock=ManualClock())
    llm = LlmClient(fake[1], keys, ["m1", "m2"], timeout_s=1.0, max_tokens=1000)
    yield llm
    await llm.aclose()


def _ask(text: str = "Quarterly report\nRevenue grew 12 %") -> list[dict[str, str]]:
    return messages(text, tone="formal", kind="report")


async def _write_once(base: str) -> tuple[str, str]:
    """One document from a new one-key, one-model client at `base`, closed afterwards (the
    environment it reads is the one of this moment)."""
    llm = LlmClient(base, KeyRing(SECRETS[:1]), ["m1"], timeout_s=2.0)
    try:
        return await llm.write(_ask())
    finally:
        await llm.aclose()


async def test_failover_goes_key_by_key_then_model_by_model(
    fake: tuple[FakeLlm, str], client: LlmClient
) -> None:
    server, _ = fake
    server.behaviours = {SECRETS[0]: "429:7", "model:m1": "500"}
    progress: list[int] = []

    async def seen(chars: int) -> None:
        progress.append(chars)

    html, model = await client.write(_ask(), seen)
    assert model == "m2"
    assert "Quarterly report" in html and "<table>" in html
    # key 1 was rate limited on m1, key 2 got a 500 from m1, then m2 answered on key 2.
    order = [(c["key"], c["model"], c["behaviour"]) for c in server.calls]
    assert order == [
        (SECRETS[0], "m1", "429:7"),
        (SECRETS[1], "m1", "500"),
        (SECRETS[1], "m2", "answer"),
    ]
    assert progress and progress == sorted(progress)  # moved with the stream
    # Retry-After is honoured: key 1 stays out for 7 s.
    assert client.keys.states() == {"key 1": "cooling", "key 2": "ok"}
    assert client.keys.free_in() == {"key 1": 7, "key 2": 0}


async def test_every_key_cooling_tells_when_the_first_is_free(
    fake: tuple[FakeLlm, str], client: LlmClient
) -> None:
    server, _ = fake
    server.behaviours = {SECRETS[0]: "429:4", SECRETS[1]: "429:9"}
    with pytest.raises(LlmKeysCoolingError) as info:
        await client.write(_ask())
    assert info.value.transient
    assert info.value.retry_after_s == 4


async def test_a_refused_key_is_quarantined_and_skipped(
    fake: tuple[FakeLlm, str], client: LlmClient
) -> None:
    server, _ = fake
    server.behaviours = {SECRETS[0]: "401"}
    for _ in range(3):
        await client.write(_ask())
    keys_used = [c["key"] for c in server.calls]
    assert keys_used.count(SECRETS[0]) == 1  # refused once, then never asked again
    assert client.keys.states()["key 1"] == "quarantined"
    server.behaviours = {SECRETS[1]: "403"}
    with pytest.raises(LlmError) as info:
        await client.write(_ask())
    assert not info.value.transient and "refused" in info.value.message


@pytest.mark.parametrize("what", ["hang", "empty", "text", "503"])
async def test_unusable_answers_move_to_the_next_model(
    fake: tuple[FakeLlm, str], client: LlmClient, what: str
) -> None:
    server, _ = fake
    server.behaviours = {"model:m1": what}
    html, model = await client.write(_ask())
    assert model == "m2" and "<h1>" in html
    server.behaviours = {"model:m1": what, "model:m2": what}
    with pytest.raises(LlmError) as info:
        await client.write(_ask())
    assert info.value.transient and not isinstance(info.value, LlmKeysCoolingError)


async def test_no_key_appears_in_any_log_line(
    fake: tuple[FakeLlm, str], client: LlmClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, _ = fake
    server.behaviours = {SECRETS[0]: "429", "model:m1": "500"}
    await client.write(_ask())
    server.behaviours = {SECRETS[0]: "401", SECRETS[1]: "429"}
    with pytest.raises(LlmError) as info:
        await client.write(_ask())
    text = "\n".join(r.getMessage() for r in caplog.records) + info.value.message
    assert caplog.records  # the failures were logged, by key position
    assert "key 1" in text
    for secret in SECRETS:
        assert secret not in text and secret[-10:] not in text


async def test_a_hostile_answer_runs_nothing_and_fetches_nothing(
    listener: Receiver,
) -> None:
    url, hits = listener.base, listener.hits
    cleaned = clean_document(hostile_document(url + "/"))
    lowered = cleaned.lower()
    for banned in ("<script", "onload", "onerror", "<iframe", "<object", "<embed", "<form"):
        assert banned not in lowered
    assert "javascript:" not in lowered and "@import" not in lowered
    assert url not in cleaned.replace(f'href="{url}', "")  # no fetchable URL is left
    async with renderer_from_settings(Settings(render_engine="chromium")) as renderer:
        out = await renderer.render(cleaned, RenderOptions())
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.data)).pages)
    assert "Hostile report" in text and "visible text" in text
    assert "SCRIPTED" not in text and "root:" not in text
    assert hits == []


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP(S)_PROXY and NO_PROXY are honoured, as operators behind a proxy expect; they are
    read when the client is made, not on every request."""
    base = "http://llm.pdfprompt-test.invalid/v1"
    with Receiver(answer=b"a proxy, not a model") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        monkeypatch.setenv("HTTPS_PROXY", proxy.base)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(LlmError, match="not an HTML document"):
            await _write_once(base)
        assert [hit.path for hit in proxy.hits] == [f"{base}/chat/completions"]
        monkeypatch.setenv("NO_PROXY", "pdfprompt-test.invalid")
        with pytest.raises(LlmError):  # straight to a host that does not resolve
            await _write_once(base)
        assert len(proxy.hits) == 1


async def test_an_https_provider_is_verified_against_the_trusted_authorities(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A provider over HTTPS answers when its certificate chains to an authority the machine
    trusts (here through SSL_CERT_FILE), and is refused when it does not."""
    ca = trustme.CA()
    served = tmp_path / "server.pem"
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(served))
    trusted = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(trusted))
    with served_port(FakeLlm(stream=True), ssl_certfile=str(served)) as port:
        base = f"https://localhost:{port}/v1"
        monkeypatch.setenv("NO_PROXY", "localhost")
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(LlmError, match="ClientConnectorCertificateError"):
            await _write_once(base)
        monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
        html, model = await _write_once(base)
    assert model == "m1" and "Quarterly report" in html
