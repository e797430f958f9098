"""Every flow of the product, walked through a client generated from the served OpenAPI
document, as a new user of the API would write it: signup to admin.

Every answer must have a status the document lists for its operation (the client raises
on any other) and parse into the type the document declares for that status. The
generated parsers take much on trust (a string where an integer is declared passes, a
field the document does not know is kept aside), so each parsed answer is also checked
field by field against the declared types, and a field the document does not declare
fails the walk.

Usage: walk.py BASE_URL, with the generated package `tickitecking_client` importable and
ADMIN_PASSWORD set to the password of the service's first admin (`admin`).
"""

from __future__ import annotations

import datetime
import io
import os
import struct
import sys
import types
import typing
import uuid
import zlib

import attrs

import tickitecking_client.models as models
from tickitecking_client import AuthenticatedClient, Client
from tickitecking_client.api.admin import (
    admin_login,
    all_reservations,
    audit_log,
    list_all_auditoriums,
    list_users,
    toggle_seat_lock,
    update_user,
)
from tickitecking_client.api.auditoriums import (
    create_auditorium,
    delete_auditorium,
    get_auditorium,
    list_own_auditoriums,
    update_auditorium,
)
from tickitecking_client.api.concerts import (
    concert_sales,
    create_concert,
    delete_concert,
    get_concert,
    list_concerts,
    serve_poster,
    update_concert,
    upload_poster,
)
from tickitecking_client.api.door import (
    attendees_csv,
    check_in,
    checkins,
    create_token,
    door_key,
    door_stats,
    door_tickets,
    revoke_token,
    tokens,
)
from tickitecking_client.api.ops import health, ready, render_metrics
from tickitecking_client.api.queue import change_room, join, my_place, room_stats
from tickitecking_client.api.presales import create_presale, delete_presale, presales
from tickitecking_client.api.tickets import my_tickets, ticket, ticket_qr, transfer
from tickitecking_client.api.seats import book, cancel, reservation_map, seat_map
from tickitecking_client.api.users import (
    delete_my,
    get_my,
    login,
    logout,
    my_reservations,
    refresh,
    signup,
    update_my,
)
from tickitecking_client.models import (
    AdminUserRequest,
    AuditoriumRequest,
    ConcertRequest,
    ErrorBody,
    LoginRequest,
    NewTokenRequest,
    PosterUpload,
    PresaleRequest,
    PriceRequest,
    ProfileRequest,
    RefreshRequest,
    ReservationList,
    ReservationStatus,
    ReservationView,
    Role,
    RowsRequest,
    ScanRequest,
    SeatBookingRequest,
    SeatListRequest,
    SeatPositionRequest,
    SeatStatus,
    SignupRequest,
    TransferRequest,
    RoomChangeRequest,
    WaitingRoomRequest,
)
from tickitecking_client.types import File, Unset

BASE = sys.argv[1]
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]
PASSWORD = "Secret#2026"
# Every name this walk creates is unique to the run, so it can run against any service.
RUN = uuid.uuid4().hex[:6]


def conforms(value: object, hint: object, path: str) -> list[str]:
    """What is wrong with `value` as a `hint` (a type the generated client declares)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [conforms(value, arm, path) for arm in typing.get_args(hint)]
        if any(not problems for problems in arms):
            return []
        return [f"{path}: {value!r} is none of {hint}"] + [p for problems in arms for p in problems]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not a list"]
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in conforms(v, item, f"{path}[{i}]")]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{path}: {value!r} is not an object"]
    if hint is typing.Any:
        return []
    if hint is None or hint is type(None):
        return [] if value is None else [f"{path}: {value!r} is not null"]
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not a number"]
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not an integer"]
    if isinstance(hint, type) and attrs.has(hint):
        if not isinstance(value, hint):
            return [f"{path}: {value!r} is not a {hint.__name__}"]
        return model_problems(value, path)
    if isinstance(hint, type):
        return [] if isinstance(value, hint) else [f"{path}: {value!r} is not a {hint.__name__}"]
    return [f"{path}: cannot check against {hint!r}"]


def model_problems(model: object, path: str) -> list[str]:
    """Checks every field of a parsed model against its declared type."""
    cls = type(model)
    module = sys.modules[cls.__module__]
    # Models name each other in string annotations, imported only for type checkers:
    # they are resolved against the package's models.
    hints = typing.get_type_hints(cls, globalns=vars(module), localns=vars(models))
    problems = []
    declared = [f for f in attrs.fields(cls) if f.name != "additional_properties"]
    for field in declared:
        problems += conforms(getattr(model, field.name), hints[field.name], f"{path}.{field.name}")
    # A model with declared fields is a documented shape: anything else the server sent
    # is undocumented. (A model with none is a free-form object, all of it "additional".)
    extra = getattr(model, "additional_properties", {})
    if declared and extra:
        problems.append(f"{path}: fields the document does not declare: {sorted(extra)}")
    return problems


STEPS = 0


def call(endpoint, status: int, expected: type | None, **kwargs):
    """Calls one operation and checks its answer: the status, and the body parsed into
    `expected` (None: an answer without a body). Returns the parsed body."""
    global STEPS
    STEPS += 1
    name = endpoint.__name__.rsplit(".", 1)[-1]
    response = endpoint.sync_detailed(**kwargs)
    where = f"{name} -> {int(response.status_code)}"
    assert response.status_code == status, f"{where}, expected {status}: {response.content!r}"
    parsed = response.parsed
    if expected is None:
        assert parsed is None and not response.content, f"{where}: a body where none is documented: {response.content!r}"
    else:
        assert isinstance(parsed, expected), f"{where}: parsed as {type(parsed).__name__}, not {expected.__name__}: {response.content!r}"
        # Text and files are what they are; documented models are checked field by field.
        problems = conforms(parsed, expected, name) if expected.__module__.startswith(models.__name__) else []
        assert not problems, f"{where}: the answer does not match the document:\n  " + "\n  ".join(problems) + f"\n  body: {response.content!r}"
    print(f"ok {where} {expected.__name__ if expected else '(no body)'}")
    return parsed, response


def data(endpoint, status: int, envelope: type, content: type, **kwargs):
    """`call` for a success envelope `{data: ...}`: returns the content, checked to be
    a `content`."""
    parsed, response = call(endpoint, status, envelope, **kwargs)
    assert isinstance(parsed.data, content), f"{endpoint.__name__}: data is {type(parsed.data).__name__}, not {content.__name__}"
    return parsed.data, response


def refused(endpoint, status: int, code: str, **kwargs) -> ErrorBody:
    """`call` for an error answer with this code."""
    error, _ = call(endpoint, status, ErrorBody, **kwargs)
    assert error.code == code, f"{endpoint.__name__}: code {error.code}, expected {code}: {error.message}"
    return error


def png() -> bytes:
    """A real 1x1 PNG image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def main() -> None:
    m = models
    anonymous = Client(base_url=BASE, raise_on_unexpected_status=True)

    def as_user(token: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=BASE, token=token, raise_on_unexpected_status=True)

    # Operations.
    alive, _ = call(health, 200, m.Status, client=anonymous)
    assert alive.status == "ok"
    readiness, _ = call(ready, 200, m.Status, client=anonymous)
    assert readiness.status == "ready" and isinstance(readiness.database, str)
    metrics, _ = call(render_metrics, 200, str, client=anonymous)
    assert "http_requests_total" in metrics

    # Accounts: signup, login, token rotation, the own account.
    fan_name, promoter_name, operator_name = f"fan{RUN}", f"promoter{RUN}", f"operator{RUN}"
    fan, _ = data(
        signup, 201, m.DataUserView, m.UserView, client=anonymous,
        body=SignupRequest(username=fan_name, password=PASSWORD, email=f"{fan_name}@example.com", nickname=f"Fan {RUN}"),
    )
    assert fan.role == Role.USER and fan.nickname == f"Fan {RUN}"
    promoter, _ = data(
        signup, 201, m.DataUserView, m.UserView, client=anonymous,
        body=SignupRequest(username=promoter_name, password=PASSWORD, email=f"{promoter_name}@example.com"),
    )
    assert promoter.nickname is None
    operator, _ = data(
        signup, 201, m.DataUserView, m.UserView, client=anonymous,
        body=SignupRequest(username=operator_name, password=PASSWORD, email=f"{operator_name}@example.com"),
    )
    refused(
        signup, 409, "USERNAME_TAKEN", client=anonymous,
        body=SignupRequest(username=fan_name, password=PASSWORD, email=f"other{RUN}@example.com"),
    )
    refused(signup, 400, "VALIDATION_FAILED", client=anonymous, body=SignupRequest(username="x", password="short", email="no"))

    def log_in(endpoint, username: str, password: str = PASSWORD):
        tokens, response = data(
            endpoint, 200, m.DataTokenResponse, m.TokenResponse, client=anonymous,
            body=LoginRequest(username=username, password=password),
        )
        assert tokens.token_type == "Bearer" and tokens.expires_in > 0
        assert response.headers["authorization"] == f"Bearer {tokens.access_token}"
        return tokens

    refused(login, 401, "INVALID_CREDENTIALS", client=anonymous, body=LoginRequest(username=fan_name, password="Wrong#pass1"))
    first = log_in(login, fan_name)
    second, _ = data(
        refresh, 200, m.DataTokenResponse, m.TokenResponse, client=anonymous,
        body=RefreshRequest(refresh_token=first.refresh_token),
    )
    assert second.refresh_token != first.refresh_token
    # A spent refresh token is refused, and revokes the whole login.
    refused(refresh, 401, "TOKEN_REUSED", client=anonymous, body=RefreshRequest(refresh_token=first.refresh_token))
    fan_client = as_user(log_in(login, fan_name).access_token)
    me, _ = data(get_my, 200, m.DataUserView, m.UserView, client=fan_client)
    assert me.id == fan.id and me.username == fan_name
    me, _ = data(
        update_my, 200, m.DataUserView, m.UserView, client=fan_client,
        body=ProfileRequest(email=f"{fan_name}@example.org", nickname=None),
    )
    assert me.email == f"{fan_name}@example.org" and me.nickname is None
    refused(get_my, 401, "UNAUTHORIZED", client=anonymous)

    # Administration of accounts: how a fan becomes a promoter or an administrator.
    refused(admin_login, 403, "FORBIDDEN", client=anonymous, body=LoginRequest(username=fan_name, password=PASSWORD))
    admin = as_user(log_in(admin_login, "admin", ADMIN_PASSWORD).access_token)
    users, _ = data(list_users, 200, m.DataVecAdminUserView, list, client=admin)
    assert {fan.id, promoter.id, operator.id} <= {u.user_id for u in users}
    refused(list_users, 403, "FORBIDDEN", client=fan_client)
    for user, role in [(promoter, Role.COMPANY_USER), (operator, Role.ADMIN)]:
        changed, _ = data(
            update_user, 200, m.DataAdminUserView, m.AdminUserView, id=user.id, client=admin,
            body=AdminUserRequest(username=user.username, email=user.email, role=role, nickname=f"{role.value} {RUN}"),
        )
        assert changed.role == role and changed.user_id == user.id
    promoter_client = as_user(log_in(login, promoter_name).access_token)
    operator_client = as_user(log_in(admin_login, operator_name).access_token)

    # Venues.
    hall_body = AuditoriumRequest(name=f"Hall {RUN}", address="424 Olympic-ro, Seoul", max_row="C", max_column=4)
    hall, _ = data(create_auditorium, 201, m.DataAuditoriumView, m.AuditoriumView, client=promoter_client, body=hall_body)
    assert hall.owner.id == promoter.id and hall.max_row == "C"
    refused(create_auditorium, 403, "FORBIDDEN", client=fan_client, body=hall_body)
    hall_body.max_row, hall_body.name = "D", f"Grand Hall {RUN}"
    hall, _ = data(update_auditorium, 200, m.DataAuditoriumView, m.AuditoriumView, id=hall.id, client=promoter_client, body=hall_body)
    assert hall.max_row == "D"
    seen, _ = data(get_auditorium, 200, m.DataAuditoriumView, m.AuditoriumView, id=hall.id, client=anonymous)
    assert seen.name == hall_body.name and seen.owner.nickname == f"COMPANY_USER {RUN}"
    spare, _ = data(create_auditorium, 201, m.DataAuditoriumView, m.AuditoriumView, client=promoter_client, body=hall_body)
    own, _ = data(list_own_auditoriums, 200, m.DataVecAuditoriumView, list, client=promoter_client)
    assert [a.id for a in own] == [hall.id, spare.id]
    call(delete_auditorium, 204, None, id=spare.id, client=promoter_client)
    refused(get_auditorium, 404, "NOT_FOUND", id=spare.id, client=anonymous)
    every, _ = data(list_all_auditoriums, 200, m.DataVecAuditoriumView, list, client=operator_client)
    assert hall.id in {a.id for a in every} and spare.id not in {a.id for a in every}

    # Concerts and posters.
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=30)
    concert_body = ConcertRequest(
        name=f"Spring Live {RUN}", description="An evening of songs", start_time=start, auditorium_id=hall.id,
        max_seats_per_fan=4,
        seat_prices=[PriceRequest(grade="R", price=150000), PriceRequest(grade="S", price=99.5)],
        seat_list=[RowsRequest(horizontals=["A", "B"], grade="R"), RowsRequest(horizontals=["C"], grade="S")],
    )
    concert, _ = data(create_concert, 201, m.DataConcertDetail, m.ConcertDetail, client=promoter_client, body=concert_body)
    assert concert.start_time == start and concert.image_path is None and concert.company_user_id == promoter.id
    refused(create_concert, 403, "FORBIDDEN", client=fan_client, body=concert_body)
    concert_body.name, concert_body.description = f"Spring Live {RUN} (extra date)", None
    concert, _ = data(update_concert, 200, m.DataConcertDetail, m.ConcertDetail, id=concert.id, client=promoter_client, body=concert_body)
    assert concert.name == concert_body.name and concert.description == ""
    assert {(p.grade, p.price) for p in concert.seat_prices} == {("R", 150000), ("S", 99.5)}
    image = png()
    poster, _ = data(
        upload_poster, 201, m.DataPosterView, m.PosterView, client=promoter_client,
        body=PosterUpload(file=File(payload=io.BytesIO(image), file_name="poster.png", mime_type="image/png"), concert_id=concert.id),
    )
    assert poster.concert_id == concert.id and poster.content_type == "image/png" and poster.size == len(image)
    served, _ = call(serve_poster, 200, File, key=poster.image_path.rsplit("/", 1)[-1], client=anonymous)
    assert served.payload.read() == image
    concert, _ = data(get_concert, 200, m.DataConcertDetail, m.ConcertDetail, id=concert.id, client=anonymous)
    assert concert.image_path == poster.image_path
    spare_concert, _ = data(create_concert, 201, m.DataConcertDetail, m.ConcertDetail, client=promoter_client, body=concert_body)
    page, _ = data(list_concerts, 200, m.DataConcertPage, m.ConcertPage, client=anonymous, page=1, size=100)
    listed = {c.id: c for c in page.content}
    assert listed[concert.id].image_path == poster.image_path and listed[spare_concert.id].image_path is None
    assert page.page == 1 and page.size == 100 and page.total_elements >= 2
    call(delete_concert, 204, None, id=spare_concert.id, client=promoter_client)
    refused(get_concert, 404, "NOT_FOUND", id=spare_concert.id, client=anonymous)

    # Seat maps.
    seats, response = data(seat_map, 200, m.DataSeatMapView, m.SeatMapView, id=concert.id, client=anonymous)
    assert [(r.horizontal, r.grade, r.statuses) for r in seats.rows] == [("A", "R", "AAAA"), ("B", "R", "AAAA"), ("C", "S", "AAAA")]
    etag = response.headers["etag"]
    call(seat_map, 304, None, id=concert.id, client=anonymous, if_none_match=etag)
    board, _ = data(reservation_map, 200, m.DataReservationMap, m.ReservationMap, id=concert.id, client=anonymous)
    assert board.concert.id == concert.id and board.unreservable_seats == []

    # Booking: one seat, several at once, a retry, a taken seat; cancelling.
    one, _ = data(
        book, 201, m.DataBooked, ReservationView, id=concert.id, client=fan_client,
        body=SeatBookingRequest(horizontal="A", vertical=1),
    )
    assert one.status == ReservationStatus.Y and one.user_id == fan.id and one.concert_id == concert.id
    several_body = SeatListRequest(seats=[SeatPositionRequest(horizontal="B", vertical=2), SeatPositionRequest(horizontal="C", vertical=3)])
    key = f"walk-{RUN}"
    several, _ = data(book, 201, m.DataBooked, ReservationList, id=concert.id, client=fan_client, body=several_body, idempotency_key=key)
    assert len(several.reservations) == 2 and all(r.status == ReservationStatus.Y for r in several.reservations)
    again, _ = data(book, 201, m.DataBooked, ReservationList, id=concert.id, client=fan_client, body=several_body, idempotency_key=key)
    assert [r.id for r in again.reservations] == [r.id for r in several.reservations]
    refused(book, 409, "SEAT_TAKEN", id=concert.id, client=operator_client, body=SeatBookingRequest(horizontal="A", vertical=1))
    refused(book, 404, "SEAT_NOT_FOUND", id=concert.id, client=fan_client, body=SeatBookingRequest(horizontal="D", vertical=1))
    refused(book, 400, "VALIDATION_FAILED", id=concert.id, client=fan_client, body=SeatListRequest(seats=[]))
    seats, _ = data(seat_map, 200, m.DataSeatMapView, m.SeatMapView, id=concert.id, client=anonymous)
    assert [r.statuses for r in seats.rows] == ["RAAA", "ARAA", "AARA"]
    board, _ = data(reservation_map, 200, m.DataReservationMap, m.ReservationMap, id=concert.id, client=anonymous)
    assert {(s.horizontal, s.vertical, s.status) for s in board.unreservable_seats} == {
        ("A", 1, SeatStatus.RESERVED), ("B", 2, SeatStatus.RESERVED), ("C", 3, SeatStatus.RESERVED)}
    other_client = as_user(log_in(login, promoter_name).access_token)
    refused(cancel, 403, "FORBIDDEN", id=concert.id, reservation_id=one.id, client=other_client)
    cancelled, _ = data(cancel, 200, m.DataCancelledView, m.CancelledView, id=concert.id, reservation_id=one.id, client=fan_client)
    assert cancelled.status == ReservationStatus.N and isinstance(cancelled.cancelled_at, datetime.datetime)
    mine, _ = data(my_reservations, 200, m.DataVecMyReservation, list, client=fan_client)
    by_id = {r.id: r for r in mine}
    assert by_id[one.id].status == ReservationStatus.N and by_id[one.id].cancelled_at is not None
    kept = by_id[several.reservations[0].id]
    assert kept.cancelled_at is None and kept.concert.start_time == start and kept.auditorium.id == hall.id
    assert (kept.seat.horizontal, kept.seat.vertical, kept.seat.grade, kept.price) == ("B", 2, "R", 150000)
    assert by_id[several.reservations[1].id].price == 99.5

    # Seat locks: a free seat locks and unlocks, a reserved one is left as it is.
    locked, _ = data(
        toggle_seat_lock, 200, m.DataLockResult, m.LockResult, id=hall.id, client=operator_client,
        body=SeatPositionRequest(horizontal="A", vertical=4),
    )
    assert [(c.concert_id, c.status, c.changed) for c in locked.concerts] == [(concert.id, SeatStatus.LOCKED, True)]
    refused(book, 409, "SEAT_LOCKED", id=concert.id, client=fan_client, body=SeatBookingRequest(horizontal="A", vertical=4))
    unlocked, _ = data(
        toggle_seat_lock, 200, m.DataLockResult, m.LockResult, id=hall.id, client=operator_client,
        body=SeatPositionRequest(horizontal="A", vertical=4),
    )
    assert [(c.status, c.changed) for c in unlocked.concerts] == [(SeatStatus.AVAILABLE, True)]
    reserved, _ = data(
        toggle_seat_lock, 200, m.DataLockResult, m.LockResult, id=hall.id, client=operator_client,
        body=SeatPositionRequest(horizontal="B", vertical=2),
    )
    assert [(c.status, c.changed) for c in reserved.concerts] == [(SeatStatus.RESERVED, False)]
    refused(toggle_seat_lock, 403, "FORBIDDEN", id=hall.id, client=promoter_client, body=SeatPositionRequest(horizontal="A", vertical=4))

    # What promoters and administrators read.
    sales, _ = data(concert_sales, 200, m.DataConcertSales, m.ConcertSales, id=concert.id, client=promoter_client)
    assert (sales.total_seats, sales.sold_seats, sales.revenue) == (12, 2, 150099.5)
    refused(concert_sales, 403, "FORBIDDEN", id=concert.id, client=fan_client)
    everyone, _ = data(all_reservations, 200, m.DataVecAdminReservation, list, client=operator_client)
    entry = {r.id: r for r in everyone}[one.id]
    assert entry.user.id == fan.id and entry.cancelled_time is not None and entry.status == ReservationStatus.N
    audit, _ = data(audit_log, 200, m.DataAuditPage, m.AuditPage, client=admin, page=1, size=100)
    actions = {e.action for e in audit.content}
    assert {"user.update", "auditorium.create", "concert.create", "concert.poster", "seat.lock_toggle"} <= actions
    refused(delete_concert, 409, "CONCERT_HAS_RESERVATIONS", id=concert.id, client=promoter_client)
    refused(delete_auditorium, 409, "AUDITORIUM_IN_USE", id=hall.id, client=promoter_client)

    # Tickets and the door: the fan's tickets and their codes; door staff with a token of
    # the concert admit a ticket once.
    held, _ = data(my_tickets, 200, m.DataVecTicketView, list, client=fan_client)
    mine_now = {t.id: t for t in held}[several.reservations[0].id]
    assert (mine_now.status, mine_now.version, mine_now.seat.horizontal, mine_now.holder.id) == ("VALID", 1, "B", fan.id)
    shown, _ = data(ticket, 200, m.DataTicketView, m.TicketView, id=mine_now.id, client=promoter_client)
    assert shown.code == mine_now.code
    qr, _ = call(ticket_qr, 200, bytes, id=mine_now.id, client=fan_client)
    assert b"<svg" in qr
    refused(transfer, 400, "VALIDATION_FAILED", id=mine_now.id, client=fan_client, body=TransferRequest(username=fan_name))
    door, _ = data(create_token, 201, m.DataTokenView, m.TokenView, id=concert.id, client=promoter_client,
                   body=NewTokenRequest(name="North gate"))
    assert isinstance(door.token, str) and door.token.startswith("ct_")
    listed, _ = data(tokens, 200, m.DataVecTokenView, list, id=concert.id, client=promoter_client)
    assert [t.name for t in listed] == ["North gate"]
    staff = as_user(door.token)
    key, _ = data(door_key, 200, m.DataDoorKey, m.DoorKey, id=concert.id, client=staff)
    assert key.algorithm == "Ed25519" and len(key.public_key) == 43
    offline, _ = data(door_tickets, 200, m.DataDoorList, m.DoorList, id=concert.id, client=staff)
    assert {t.id for t in offline.tickets} >= {r.id for r in several.reservations}
    assert [(r.ticket, r.version) for r in offline.revoked] == [(one.id, 1)], "the cancelled seat's code is revoked"
    admitted, _ = data(check_in, 200, m.DataCheckinView, m.CheckinView, id=concert.id, client=staff,
                       body=ScanRequest(code=mine_now.code, device_id="gate-1", nonce=f"walk-{RUN}"))
    assert admitted.result == "ADMITTED" and admitted.ticket == mine_now.id and admitted.seat.vertical == 2
    again_scan, _ = call(check_in, 409, m.CheckinView, id=concert.id, client=staff, body=ScanRequest(code=mine_now.code))
    assert again_scan.code == "ALREADY_CHECKED_IN" and again_scan.first_scan.device_id == "gate-1"
    refused(check_in, 400, "INVALID_CODE", id=concert.id, client=staff, body=ScanRequest(code="NOT" + mine_now.code[3:]))
    scans, _ = data(checkins, 200, m.DataVecScanView, list, id=concert.id, client=promoter_client)
    assert [x.result for x in scans] == ["ADMITTED", "ALREADY_CHECKED_IN"]
    stats, _ = data(door_stats, 200, m.DataDoorStats, m.DoorStats, id=concert.id, client=staff)
    assert (stats.admitted, stats.total, stats.conflicts) == (1, 2, 0)
    sheet, _ = call(attendees_csv, 200, str, id=concert.id, client=promoter_client)
    assert sheet.splitlines()[0].startswith("ticket,section,row,seat") and len(sheet.splitlines()) == 3
    call(revoke_token, 204, None, id=concert.id, token_id=door.id, client=promoter_client)
    refused(door_key, 401, "TOKEN_INVALID", id=concert.id, client=staff)

    # The waiting room: a concert whose room is open and whose sales open tomorrow; the
    # fan joins once, reads their place; the promoter reads and pauses the room.
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    roomed_body = ConcertRequest(
        name=f"Rush {RUN}", start_time=start, auditorium_id=hall.id,
        sales_open_at=now + datetime.timedelta(days=1),
        waiting_room=WaitingRoomRequest(opens_at=now - datetime.timedelta(hours=1), admit_per_minute=600, pass_minutes=15),
        seat_prices=[PriceRequest(grade="R", price=10)], seat_list=[RowsRequest(horizontals=["A"], grade="R")],
    )
    roomed, _ = data(create_concert, 201, m.DataConcertDetail, m.ConcertDetail, client=promoter_client, body=roomed_body)
    assert roomed.waiting_room.admit_per_minute == 600
    place, _ = data(join, 201, m.DataQueueView, m.QueueView, id=roomed.id, client=fan_client)
    assert place.state == "WAITING" and place.position is None and place.pass_ is None
    again, _ = data(join, 200, m.DataQueueView, m.QueueView, id=roomed.id, client=fan_client)
    assert again.joined_at == place.joined_at
    mine, _ = data(my_place, 200, m.DataQueueView, m.QueueView, id=roomed.id, client=fan_client)
    assert mine.joined_at == place.joined_at
    refused(room_stats, 403, "FORBIDDEN", id=roomed.id, client=fan_client)
    room, _ = data(room_stats, 200, m.DataRoomView, m.RoomView, id=roomed.id, client=promoter_client)
    assert (room.state, room.joined, room.waiting, room.admitted) == ("OPEN", 1, 1, 0)
    room, _ = data(
        change_room, 200, m.DataRoomView, m.RoomView, id=roomed.id, client=promoter_client,
        body=RoomChangeRequest(admit_per_minute=1200),
    )
    assert room.admit_per_minute == 1200 and room.ended_by is None
    # Presales: before a concert's general sale, a fan books with an access code of an
    # open presale, each code as often as it allows; a promoter deletes an unused presale.
    early_body = ConcertRequest(
        name=f"Presale Night {RUN}", start_time=start, auditorium_id=hall.id, sales_open_at=start - datetime.timedelta(days=7),
        seat_prices=[PriceRequest(grade="R", price=100)], seat_list=[RowsRequest(horizontals=["A"], grade="R")],
    )
    early, _ = data(create_concert, 201, m.DataConcertDetail, m.ConcertDetail, client=promoter_client, body=early_body)
    closes = start - datetime.timedelta(days=7)
    fan_club_body = PresaleRequest(
        name="Fan club", opens_at=closes - datetime.timedelta(days=60), closes_at=closes,
        codes=[f"walk-{RUN}"], max_uses_per_code=1,
    )
    fan_club, _ = data(create_presale, 201, m.DataPresaleView, m.PresaleView, id=early.id, client=promoter_client, body=fan_club_body)
    assert [(c.code, c.uses) for c in fan_club.codes] == [(f"WALK-{RUN}".upper(), 0)] and fan_club.closes_at == closes
    refused(create_presale, 403, "FORBIDDEN", id=early.id, client=fan_client, body=fan_club_body)
    refused(create_presale, 409, "ACCESS_CODE_TAKEN", id=early.id, client=promoter_client, body=fan_club_body)
    fan_club_body.codes, fan_club_body.max_uses_per_code = [], 0
    refused(create_presale, 400, "VALIDATION_FAILED", id=early.id, client=promoter_client, body=fan_club_body)
    radio, _ = data(
        create_presale, 201, m.DataPresaleView, m.PresaleView, id=early.id, client=operator_client,
        body=PresaleRequest(name="Radio", opens_at=fan_club.opens_at, closes_at=closes, count=2, max_uses_per_code=3),
    )
    assert len(radio.codes) == 2 and all(len(c.code) == 10 for c in radio.codes)
    refused(book, 409, "SALES_NOT_OPEN", id=early.id, client=fan_client, body=SeatBookingRequest(horizontal="A", vertical=1))
    refused(book, 403, "ACCESS_CODE_INVALID", id=early.id, client=fan_client,
            body=SeatBookingRequest(horizontal="A", vertical=1, access_code="NOT-A-CODE"))
    early_one, _ = data(
        book, 201, m.DataBooked, ReservationView, id=early.id, client=fan_client,
        body=SeatBookingRequest(horizontal="A", vertical=1, access_code=f"walk-{RUN}"),
    )
    assert early_one.status == ReservationStatus.Y
    refused(book, 409, "ACCESS_CODE_USED_UP", id=early.id, client=fan_client,
            body=SeatListRequest(seats=[SeatPositionRequest(horizontal="A", vertical=2)], access_code=f"WALK-{RUN}"))
    listed, _ = data(presales, 200, m.DataVecPresaleView, list, id=early.id, client=promoter_client)
    assert [(p.name, p.uses) for p in listed] == [("Fan club", 1), ("Radio", 0)]
    refused(presales, 403, "FORBIDDEN", id=early.id, client=fan_client)
    refused(delete_presale, 409, "PRESALE_USED", id=early.id, presale_id=fan_club.id, client=promoter_client)
    call(delete_presale, 204, None, id=early.id, presale_id=radio.id, client=promoter_client)
    refused(delete_presale, 404, "NOT_FOUND", id=early.id, presale_id=radio.id, client=promoter_client)

    # Leaving: logout ends the session; a deleted account cannot log in.
    call(logout, 204, None, client=fan_client)
    refused(get_my, 401, "TOKEN_INVALID", client=fan_client)
    fan_client = as_user(log_in(login, fan_name).access_token)
    call(delete_my, 204, None, client=fan_client)
    refused(login, 401, "INVALID_CREDENTIALS", client=anonymous, body=LoginRequest(username=fan_name, password=PASSWORD))
    seats, _ = data(seat_map, 200, m.DataSeatMapView, m.SeatMapView, id=concert.id, client=anonymous)
    assert [r.statuses for r in seats.rows] == ["AAAA", "AAAA", "AAAA"], "a deleted fan's seats are free again"

    print(f"walked {STEPS} calls: every answer parsed into its documented type")


if __name__ == "__main__":
    main()
