"""The asyncio driver on virtual time: exact reconnect times, inactivity, cleanup."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from syncwire.backoff import BackoffPolicy
from syncwire.errors import TransportError
from syncwire.manager import ConnectionState
from syncwire.manager import OnMessageResponse
from syncwire.manager import ReconnectMetadata
from syncwire.manager import WebSocketManager
from syncwire.protocol import Connect
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse
from syncwire.protocol import ServerMessage
from syncwire.protocol import parse_client_message
from syncwire.testing import FakeServerConnection
from syncwire.testing import FakeTransport
from tests.helpers import RESPONSE
from tests.helpers import URL
from tests.helpers import Recorder
from tests.helpers import bare_manager
from tests.helpers import make_manager
from tests.helpers import no_jitter
from tests.helpers import now

PING = '{"type":"Ping"}'


def on_fake(**options: Any) -> tuple[FakeTransport, WebSocketManager, Recorder]:
    """A manager (``make_manager``: recording callbacks, no jitter) on a new FakeTransport."""
    fake = FakeTransport()
    recorder = make_manager(URL, transport=fake, **options)
    return fake, recorder.manager, recorder


async def accept_next(fake: FakeTransport) -> FakeServerConnection:
    server = await fake.next_connection()
    server.accept()
    await server.receive()  # the Connect sent by on_open
    return server


async def accept_then_close(fake: FakeTransport, code: int, reason: str) -> FakeServerConnection:
    """``accept_next``, then close that connection from the server's end."""
    server = await accept_next(fake)
    server.close(code, reason)
    return server


@pytest.mark.asyncio
async def test_connects_at_once_and_on_open_sends_connect() -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        server = await fake.next_connection()
        assert now() == 0.0
        assert manager.socket_state() == "connecting"
        server.accept()
        frame = parse_client_message(await server.receive())
        assert isinstance(frame, Connect)
        assert frame.connection_count == 0
        assert frame.last_close_reason == "InitialConnect"
        assert manager.connection_state().is_connected
        assert [s.state for _, s in recorder.states] == ["connecting", "ready"]


@pytest.mark.asyncio
async def test_reconnects_happen_at_exact_loop_times() -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        server = await accept_next(fake)
        await asyncio.sleep(10.0)
        server.close(1013, "SubscriptionsWorkerFullError")
        server = await fake.next_connection()
        assert now() == 13.0  # 3 s for overload, retries 0
        server.refuse()
        server = await fake.next_connection()
        assert now() == 15.0  # a failed handshake is "Unknown": 1 s · 2^1
        server.accept()
        await server.receive()
        assert recorder.opens[-1] == (
            15.0,
            ReconnectMetadata(1, "SubscriptionsWorkerFullError", recorder.opens[-1][1].client_ts),
        )
        server.close(1011, "InternalServerError")
        server = await fake.next_connection()
        assert now() == 15.0 + 4.0  # 1 s · 2^2 (retries: 0, 1, now 2)
        assert recorder.disconnect_errors == [
            "WebSocket closed with code 1013: SubscriptionsWorkerFullError",
            "WebSocket closed with code 1011: InternalServerError",
        ]


@pytest.mark.asyncio
async def test_a_synced_session_resets_the_backoff() -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        server = await accept_next(fake)
        for _ in range(3):
            server.close(1011, "InternalServerError")
            server = await accept_next(fake)
        assert manager.connection_state().connection_retries == 3
        recorder.synced = True
        server.push(RESPONSE)
        await asyncio.sleep(0)
        assert manager.connection_state().connection_retries == 0
        start = now()
        server.close(1011, "InternalServerError")
        await fake.next_connection()
        assert now() - start == 1.0


@pytest.mark.asyncio
async def test_inactivity_is_detected_at_exactly_the_threshold() -> None:
    fake, manager, _ = on_fake(inactivity_threshold=60.0)
    async with manager:
        server = await accept_next(fake)
        await asyncio.sleep(30.0)
        server.push(PING)
        await server.wait_closed()
        assert now() == 90.0  # 60 s after the last frame
        assert server.closed_by_client == (1000, "")
        await fake.next_connection()
        assert now() == pytest.approx(90.1, abs=1e-9)  # class client: 0.1 s
        assert manager.connection_state().last_close_reason == "InactiveServer"


@pytest.mark.asyncio
async def test_a_frame_still_arriving_is_activity_not_silence() -> None:
    """A 5 MB Transition on a slow link takes longer than the threshold to arrive:
    its bytes keep the connection; silence after the last byte is still caught."""
    fake, manager, recorder = on_fake(inactivity_threshold=60.0)
    async with manager:
        server = await accept_next(fake)
        for _ in range(4):  # 200 s of one frame arriving, bytes every 50 s
            await asyncio.sleep(50.0)
            server.trickle()
        await asyncio.sleep(10.0)
        server.push(RESPONSE)  # the frame is complete
        await server.wait_closed()
        assert now() == 270.0  # 60 s after the last bytes, not after 60 s
        assert len(recorder.messages) == 1
        assert manager.connection_state().last_close_reason == "InactiveServer"


@pytest.mark.asyncio
async def test_a_handshake_that_never_completes_is_abandoned_at_the_threshold() -> None:
    fake, manager, _ = on_fake()
    async with manager:
        hung = await fake.next_connection()
        await hung.wait_closed()
        assert now() == 60.0
        assert hung.state == "abandoned"
        await fake.next_connection()
        assert now() == pytest.approx(60.1, abs=1e-9)


@pytest.mark.asyncio
async def test_a_day_of_pings_causes_no_spurious_reconnect() -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        server = await accept_next(fake)
        for _ in range(24 * 3600 // 15):
            await asyncio.sleep(15.0)
            server.push(PING)
        await asyncio.sleep(59.0)
        assert now() == 24 * 3600 + 59.0
        assert fake.attempts == 1
        assert server.is_open
        assert recorder.messages == []  # pings never reach on_message
        assert manager.connection_state().connection_count == 1


@pytest.mark.asyncio
async def test_messages_reach_on_message_in_order() -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        server = await accept_next(fake)
        for _ in range(3):
            server.push(RESPONSE)
        server.push(PING)
        await asyncio.sleep(1.0)
        assert len(recorder.messages) == 3
        assert all(isinstance(m, MutationResponse) for m in recorder.messages)


@pytest.mark.asyncio
async def test_send_message_only_when_ready_and_never_raises() -> None:
    fake, manager, _ = on_fake()
    mutation = Mutation(request_id=1, udf_path="a:b", args={})
    async with manager:
        assert manager.send_message(mutation) is False  # connecting
        server = await accept_next(fake)
        assert manager.send_message(mutation) is True
        assert (
            await server.receive()
            == '{"type":"Mutation","requestId":1,"udfPath":"a:b","args":[{}]}'
        )
        manager.pause()
        assert manager.send_message(mutation) is False
    assert manager.send_message(mutation) is False  # terminated


@pytest.mark.asyncio
async def test_a_failed_send_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    fake, manager, _ = on_fake()
    async with manager:
        server = await accept_next(fake)
        server.fail_sends()
        with caplog.at_level(logging.INFO, "syncwire.manager"):
            assert manager.send_message(Mutation(request_id=1, udf_path="a:b", args={})) is True
        assert manager.connection_state().last_close_reason == "FailedToSendMessage"
        start = now()
        await accept_next(fake)
        assert now() - start == pytest.approx(0.1)
        assert any("Failed to send message on WebSocket" in m for m in caplog.messages)


@pytest.mark.asyncio
async def test_a_send_racing_the_servers_close_keeps_the_servers_reason() -> None:
    """The close is already on its way when the client sends: as in a browser,
    the frame is dropped and the server's reason decides the backoff."""
    fake, manager, _ = on_fake()
    async with manager:
        await accept_then_close(fake, 1013, "TooManyConcurrentRequests")
        assert manager.send_message(Mutation(request_id=1, udf_path="a:b", args={})) is True
        start = now()
        await fake.next_connection()
        assert now() - start == pytest.approx(3.0)  # the 1013 class (rand 0.5: no jitter)
        assert manager.connection_state().last_close_reason == "TooManyConcurrentRequests"


@pytest.mark.asyncio
async def test_a_send_that_fails_later_reconnects() -> None:
    fake, manager, _ = on_fake()
    async with manager:
        server = await accept_next(fake)
        server.fail_sends(later=True)
        manager.send_message(Mutation(request_id=1, udf_path="a:b", args={}))
        await accept_next(fake)
        assert manager.connection_state().connection_count == 2
        assert manager.connection_state().last_close_reason is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("push", "reason"),
    [
        (lambda s: s.push("{not json"), "InvalidServerMessage"),
        (lambda s: s.push('{"type":"Nope"}'), "InvalidServerMessage"),
        (lambda s: s.push_binary(b"\x00\x01"), "BinaryFrame"),
    ],
)
async def test_bad_input_recovers_to_ready(push: object, reason: str) -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        server = await accept_next(fake)
        push(server)  # type: ignore[operator]
        await server.wait_closed()
        assert manager.connection_state().last_close_reason is not None
        assert manager.connection_state().last_close_reason.startswith(reason)  # type: ignore[union-attr]
        start = now()
        await accept_next(fake)
        assert now() - start == pytest.approx(0.1)
        assert manager.connection_state().is_connected
        assert recorder.opens[-1][1].last_close_reason.startswith(reason)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_callback_exceptions_are_logged_and_the_manager_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeTransport()

    def broken_on_message(_: ServerMessage) -> OnMessageResponse:
        raise RuntimeError("user bug")

    def broken_observer(_: ConnectionState) -> None:
        raise RuntimeError("user bug")

    manager = WebSocketManager(
        URL,
        on_open=lambda _: None,
        on_message=broken_on_message,
        on_state_change=broken_observer,
        transport=fake,
    )
    async with manager:
        server = await fake.next_connection()
        with caplog.at_level(logging.ERROR, "syncwire.manager"):
            server.accept()
            server.push(RESPONSE)
            server.push(RESPONSE)
            await asyncio.sleep(1.0)
        assert manager.connection_state().is_connected
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert any("on_message raised" in r.getMessage() and r.exc_info for r in errors)
        assert any("on_state_change raised" in r.getMessage() for r in errors)


@pytest.mark.asyncio
async def test_stop_waits_for_the_close_and_cancels_the_scheduled_reconnect() -> None:
    fake, manager, _ = on_fake()
    async with manager:
        await accept_then_close(fake, 1011, "InternalServerError")
        await asyncio.sleep(0.5)
        assert manager.socket_state() == "disconnected"
        await manager.stop()
        assert manager.socket_state() == "stopped"
        await asyncio.sleep(3600.0)
        assert fake.attempts == 1
        manager.try_restart()
        await accept_next(fake)
        await manager.stop()
        assert fake.connections[-1].closed_by_client == (1000, "")


@pytest.mark.asyncio
async def test_pause_and_resume_defer_on_open_and_call_on_resume() -> None:
    fake, manager, recorder = on_fake()
    async with manager:
        manager.pause()
        server = await fake.next_connection()
        server.accept()
        await asyncio.sleep(1.0)
        assert recorder.opens == []
        manager.resume()
        assert len(recorder.opens) == 1
        assert recorder.opens[0][1].connection_count == 0
        manager.pause()
        manager.resume()
        assert recorder.resumes == 1


@pytest.mark.asyncio
async def test_try_reconnect_immediately_skips_the_wait() -> None:
    fake, manager, _ = on_fake()
    async with manager:
        server = await accept_then_close(fake, 1013, "SubscriptionsWorkerFullError")
        await asyncio.sleep(1.0)
        manager.try_reconnect_immediately()
        server = await fake.next_connection()
        assert now() == 1.0
        server.accept()
        await server.receive()  # Connect
        event = await server.receive()
        assert '"eventType":"NetworkRecoveryReconnect"' in event
        assert '"timeSavedMs":2000' in event


@pytest.mark.asyncio
async def test_terminate_leaves_no_task_timer_or_socket() -> None:
    fake, manager, _ = on_fake()
    server = await accept_next(fake)
    await manager.terminate()
    await manager.terminate()  # idempotent
    assert server.closed_by_client == (1000, "")
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert manager.connection_state().state == "terminated"
    assert manager._timer is None
    assert not manager._tasks
    assert manager._connection is None


@pytest.mark.asyncio
async def test_ten_thousand_start_terminate_cycles_leave_nothing_behind() -> None:
    fake = FakeTransport(auto_accept=True)
    for cycle in range(10_000):
        manager = bare_manager(URL, transport=fake)
        if cycle % 2:
            await asyncio.sleep(0)  # half of them get as far as ready
        await manager.terminate()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert all(c.is_closed or c.state == "abandoned" for c in fake.connections)
    loop = asyncio.get_running_loop()
    assert not [h for h in getattr(loop, "_scheduled", []) if not h.cancelled()]


@pytest.mark.asyncio
async def test_backoff_thresholds_are_parameters() -> None:
    fake, manager, _ = on_fake(backoff=BackoffPolicy(unknown_initial=0.01, max_backoff=0.02))
    async with manager:
        for _ in range(3):
            (await fake.next_connection()).refuse()
        await fake.next_connection()
        assert now() == pytest.approx(0.01 + 0.02 + 0.02)


@pytest.mark.asyncio
async def test_manager_needs_a_running_loop_and_a_websocket_url() -> None:
    with pytest.raises(ValueError, match="ws or wss"):
        bare_manager("https://x.convex.cloud", transport=FakeTransport())


def test_manager_outside_a_loop_says_so() -> None:
    with pytest.raises(RuntimeError, match=r"^WebSocketManager starts connecting at once: "):
        bare_manager(URL, transport=FakeTransport())


@pytest.mark.asyncio
async def test_terminate_during_a_hung_handshake_leaves_nothing() -> None:
    fake, manager, _ = on_fake()
    hung = await fake.next_connection()
    await asyncio.sleep(5.0)
    await manager.terminate()
    assert hung.state == "abandoned"
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert manager._reader is None


class _FailingConnection:
    """A connection whose receive fails with a bare TransportError (an I/O error)."""

    last_data_at = None  # it cannot tell

    def __init__(self) -> None:
        self.closed = False

    def send(self, text: str) -> None:
        pass

    async def recv(self) -> str:
        raise TransportError("receive failed (scripted)")

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        pass


class _FailingTransport:
    def __init__(self) -> None:
        self.connections: list[_FailingConnection] = []

    async def connect(self, url: str) -> _FailingConnection:
        self.connections.append(_FailingConnection())
        return self.connections[-1]


@pytest.mark.asyncio
async def test_an_io_error_while_receiving_is_a_lost_connection() -> None:
    transport = _FailingTransport()
    manager = bare_manager(URL, transport=transport, rand=no_jitter)
    async with manager:
        await asyncio.sleep(1.5)
        assert len(transport.connections) == 2  # a 1006 with no reason is "Unknown": 1 s
        assert manager.connection_state().last_close_reason == "closed with code 1006"
        assert all(c.closed for c in transport.connections[:-1])


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("wss://example.convex.cloud:99999/api/sync", "port"),
        ("ws:///api/sync", "no host"),
        ("http://example.convex.cloud", "ws or wss"),
    ],
)
@pytest.mark.asyncio
async def test_a_url_no_transport_could_open_is_refused_at_once(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        bare_manager(url, transport=FakeTransport())


@pytest.mark.asyncio
async def test_repr_shows_no_credentials_or_query() -> None:
    fake = FakeTransport()
    manager = bare_manager(
        "wss://user:pw@example.convex.cloud:8443/api/sync?token=SECRET", transport=fake
    )
    async with manager:
        text = repr(manager)
        assert text == "<WebSocketManager wss://example.convex.cloud:8443/api/sync connecting>"


@pytest.mark.asyncio
async def test_a_transport_that_raises_outside_its_contract_is_a_failed_handshake(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        attempts = 0

        async def connect(self, url: str) -> _FailingConnection:
            Broken.attempts += 1
            raise ValueError("not a TransportError")

    manager = bare_manager(URL, transport=Broken(), rand=no_jitter)
    with caplog.at_level(logging.ERROR, "syncwire.manager"):
        async with manager:
            await asyncio.sleep(3.5)  # 1 s, then 2 s: "Unknown" backoff
            assert Broken.attempts == 3
    assert any("failed to connect" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_stop_returns_even_if_a_callback_restarts_the_manager() -> None:
    fake = FakeTransport(auto_accept=True)
    manager: WebSocketManager | None = None

    def restart_when_stopped(state: ConnectionState) -> None:
        if state.state == "stopped" and manager is not None:
            manager.try_restart()

    manager = bare_manager(URL, on_state_change=restart_when_stopped, transport=fake)
    async with manager:
        await asyncio.sleep(0.1)
        await asyncio.wait_for(manager.stop(), timeout=10.0)
        await asyncio.sleep(0.1)
        assert manager.connection_state().is_connected  # the callback's restart stands
