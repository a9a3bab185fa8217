"""A labgrid place held for one command: reserved, waited for, acquired, always given back.

labgrid (the `labgrid` extra, 25+ over gRPC) is the engine labs already run to share
boards between people and CI hosts. edgeshrink does not schedule boards itself: it asks
the coordinator for a reservation (a place by name, or any place with the given tags),
polls it until allocated (each poll also keeps it from expiring), acquires the place,
and reads the SSH address from the place's NetworkService resource. Giving it back
cancels the reservation first and then releases the place: in that order the
coordinator hands the place to the next waiting reservation at once, in the other order
only on its next 15 s tick (observed with labgrid 26.0.1).

Only the coordinator's documented RPCs (``session.stub``) and the client session's
public methods are used, none of labgrid's underscored CLI helpers.
"""

import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass

from ...shared.errors import ConnectError
from ...shared.visible_text import visible

POLL_S = 0.25             # the place is handed over between polls; far below the 60 s expiry
NOTICE_EVERY_S = 10.0
INSTALL_HINT = "install the labgrid support: pip install 'edgeshrink[labgrid]'"


@dataclass(frozen=True)
class PlaceAddress:
    """Where the acquired place's board answers SSH (its NetworkService resource)."""
    place: str
    address: str
    port: int
    username: str


class _WithoutLabgridRootLogs(logging.Filter):
    """labgrid's client logs its connection errors on the root logger ("ERROR:root:
    coordinator is unavailable ..."); the lease reports them itself, in one line."""

    def filter(self, record):
        return "labgrid" not in record.pathname


def _stderr_notice(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _one_line(exc):
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    return visible(" ".join(str(text).split()))[:300] or type(exc).__name__


class PlaceLease:
    def __init__(self, device_name, coordinator, filters, wait_s, notice=_stderr_notice):
        self.device_name = device_name
        self.coordinator = coordinator
        self.filters = dict(filters)
        self.wait_s = wait_s
        self.notice = notice
        self.loop = self.session = self.token = self.place = None
        self.acquired = False

    def _fail(self, what, hint=None):
        return ConnectError("device '%s': labgrid %s" % (self.device_name, what), hint)

    def _call(self, rpc, request):
        return self.loop.run_until_complete(rpc(request))

    def take(self):
        """Reserve, wait (at most ``wait_s``), acquire: the board's SSH address. Whatever
        goes wrong (Ctrl-C included), nothing stays reserved or acquired."""
        try:
            from labgrid.remote.client import start_session  # noqa: F401 (checked here: the extra)
        except ImportError:
            raise self._fail("is named in devices.toml but labgrid is not installed", INSTALL_HINT) from None
        try:
            return self._take()
        except BaseException:
            self.give_back()
            raise

    def _take(self):
        import grpc
        from labgrid.remote.client import start_session
        from labgrid.remote.common import Reservation, ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

        root = logging.getLogger()
        if not any(isinstance(f, _WithoutLabgridRootLogs) for f in root.filters):
            root.addFilter(_WithoutLabgridRootLogs())
        self.loop = asyncio.new_event_loop()   # one per lease: fleet threads each hold their own
        asyncio.set_event_loop(self.loop)
        try:
            self.session = start_session(self.coordinator, loop=self.loop)
        except Exception as exc:
            raise self._fail("coordinator %s: %s" % (self.coordinator, _one_line(exc)),
                             "check labgrid_coordinator in devices.toml (or $LG_COORDINATOR) and that the "
                             "coordinator runs") from None
        try:
            reply = self._call(self.session.stub.CreateReservation, pb2.CreateReservationRequest(
                filters={"main": pb2.Reservation.Filter(filter=self.filters)}, prio=0.0))
            self.token = Reservation.from_pb2(reply.reservation).token
            started = time.monotonic()
            next_notice = started + NOTICE_EVERY_S
            while True:
                reply = self._call(self.session.stub.PollReservation, pb2.PollReservationRequest(token=self.token))
                reservation = Reservation.from_pb2(reply.reservation)
                if reservation.state in (ReservationState.allocated, ReservationState.acquired):
                    self.place = reservation.allocations["main"][0]
                    break
                if reservation.state in (ReservationState.expired, ReservationState.invalid):
                    raise self._fail("reservation %s for %s became %s" % (self.token, self._wanted(),
                                                                       reservation.state.name))
                waited = time.monotonic() - started
                if waited >= self.wait_s:
                    raise self._fail("%s was not free within %.0f s (reservation %s was waiting)"
                                     % (self._wanted(), self.wait_s, self.token),
                                     "raise labgrid_wait_s in devices.toml, or see who holds it: "
                                     "labgrid-client who")
                if time.monotonic() >= next_notice:
                    self.notice("%s: waiting for labgrid %s (%.0f s of at most %.0f s)"
                                % (self.device_name, self._wanted(), waited, self.wait_s))
                    next_notice += NOTICE_EVERY_S
                self.loop.run_until_complete(asyncio.sleep(POLL_S))
            self.loop.run_until_complete(self.session.sync_with_coordinator())
            place = self.session.places[self.place]
            self.session.check_matches(place)
            self._call(self.session.stub.AcquirePlace, pb2.AcquirePlaceRequest(placename=self.place))
            self.acquired = True
            self.loop.run_until_complete(self.session.sync_with_coordinator())
            waited = time.monotonic() - started
            self.notice("%s: acquired labgrid place %s at %.3f after %.1f s of waiting"
                        % (self.device_name, self.place, time.time(), waited))
            return self._address(self.session.places[self.place])
        except grpc.RpcError as exc:
            raise self._fail("coordinator %s refused: %s" % (self.coordinator, _one_line(exc))) from None
        except ConnectError:
            raise
        except Exception as exc:   # labgrid's own errors (no match for a resource, a vanished place)
            raise self._fail("place %s: %s" % (self.place or self._wanted(), _one_line(exc))) from None

    def _wanted(self):
        if set(self.filters) == {"name"}:
            return "place %s" % self.filters["name"]
        return "a place tagged %s" % ", ".join("%s=%s" % item for item in sorted(self.filters.items()))

    def _address(self, place):
        services = [entry.args for (name, kind), entry in self.session.get_target_resources(place).items()
                    if kind == "NetworkService"]
        if not services:
            raise self._fail("place %s has no NetworkService resource: there is no SSH address to reach"
                             % self.place, "add a match for the board's NetworkService to the place "
                                           "(labgrid-client -p %s add-match EXPORTER/GROUP/NetworkService)"
                             % self.place)
        args = services[0]
        return PlaceAddress(self.place, str(args["address"]), int(args.get("port") or 22), str(args["username"]))

    def give_back(self):
        """Cancel the reservation, then release the place (see the module's note); never raises."""
        if self.session is None:
            return
        try:
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

            if self.token:
                self._quietly(self.session.stub.CancelReservation, pb2.CancelReservationRequest(token=self.token))
                self.token = None
            if self.acquired:
                self._quietly(self.session.stub.ReleasePlace, pb2.ReleasePlaceRequest(placename=self.place))
                self.acquired = False
                self.notice("%s: released labgrid place %s at %.3f" % (self.device_name, self.place, time.time()))
        finally:
            try:
                self.loop.run_until_complete(self.session.stop())
                self.loop.run_until_complete(self.session.close())
            except Exception:
                pass
            self.loop.close()
            self.session = None

    def _quietly(self, rpc, request):
        try:
            self._call(rpc, request)
        except Exception as exc:   # the coordinator went away: it frees everything when it restarts
            self.notice("%s: labgrid: could not give back %s: %s" % (self.device_name, self.place or self.token,
                                                                      _one_line(exc)))


def coordinator_for(device):
    return device.labgrid_coordinator or os.environ.get("LG_COORDINATOR")
