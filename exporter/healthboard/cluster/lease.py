"""Cluster membership as lease rows in the sink's PostgreSQL (``healthboard_members``, migration 0010).

Each replica calls ``healthboard_cluster_heartbeat()`` every ``lease / 5``: it renews its own row for ``lease``
seconds and gets back its region's live rows with the database's clock. From that view it answers ``owns(target,
tick)`` for the scheduler (healthboard/cluster/ownership.py). The timing, and why it gives each tick exactly one
prober:

- **Joining.** A new member's row becomes active ``lease / 2`` after it is written (two and a half heartbeats):
  every other member has read it by then, so at any tick all members agree on who is active. Until its first
  heartbeat is answered it probes nothing; that answer may take up to ``lease`` (later heartbeats: two
  heartbeat periods), and with none by then it fails open as below.
- **A member killed.** Its row stops being renewed and expires at most ``lease`` after its last heartbeat; from
  then on the others count it out and its targets go to the member with the next-highest weight. Its ticks between
  the kill and the expiry are not probed (nobody can tell a dead replica from a slow one sooner).
- **A member stopped** (SIGTERM, a rolling update): it shortens its lease to ``lease / 2`` from now and keeps
  probing until then, so its targets move with no tick missed or doubled.
- **Clocks.** Lease times are the database's; each replica measures its offset to that clock at every heartbeat
  (the midpoint of the round trip), so replicas whose clocks disagree still agree on the ticks.
- **Losing the database.** A replica that could not renew its lease before it ran out no longer knows who else is
  alive. It then probes every target of its region (``healthboard_cluster_coordinated`` 0,
  ``HealthboardClusterUncoordinated``): double probes cost money for a while, a blind spot would cost the
  monitor's purpose. It rejoins, after the join delay, as soon as a heartbeat succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import asyncpg
from prometheus_client import CollectorRegistry, Counter, Gauge

from healthboard.cluster.ownership import Member, Membership, rendezvous_owner
from healthboard.secrets import Secret, scrub

log = logging.getLogger(__name__)

HEARTBEATS_PER_LEASE = 5
JOIN_FRACTION = 0.5  # of the lease: a joining member owns nothing before this much has passed


class ClusterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.members = Gauge("healthboard_cluster_members", "Replicas of this region active in the cluster, as this one sees it.", registry=r)
        self.coordinated = Gauge(
            "healthboard_cluster_coordinated",
            "1 while this replica holds a live lease and probes only its share; 0 while it can't renew it and probes every target.",
            registry=r,
        )
        self.heartbeat_errors = Counter("healthboard_cluster_heartbeat_errors", "Heartbeats to the cluster database that failed.", registry=r)
        self.takeovers = Counter(
            "healthboard_cluster_member_takeovers",
            "Heartbeats that found this replica's name live under another process (a restart within the lease, or two replicas "
            "configured with the same cluster.member).", registry=r,
        )


class PostgresLease:
    def __init__(self, dsn: Secret, region: str, member: str, lease: float, registry: CollectorRegistry,
                 connect_timeout: float = 10.0) -> None:
        self.dsn = dsn
        self.region = region
        self.member = member
        self.lease = lease
        self.heartbeat = lease / HEARTBEATS_PER_LEASE
        self.join_delay = lease * JOIN_FRACTION
        self.connect_timeout = connect_timeout  # each connection attempt is capped by its caller's own limit as well
        self.incarnation = uuid.uuid4()
        self.metrics = ClusterMetrics(registry)
        self.view = Membership(())
        self.offset = 0.0  # database clock minus ours
        self._own: Member | None = None
        self._started = time.time()
        self._ever_renewed = False
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._leaving = False
        self._reported_coordinated = False
        self.metrics.coordinated.set(0)

    # -- what the scheduler asks ------------------------------------------------------------------

    @property
    def coordinated(self) -> bool:
        """True while our own lease is live by the database's clock (as last read)."""
        return self._own is not None and time.time() + self.offset < self._own.expires_at

    def owns(self, target_id: str, at: float) -> bool:
        """Whether this replica probes ``target_id`` at the tick due at ``at`` (our clock, unix seconds)."""
        if not self.coordinated:
            if self._leaving:
                return False  # handed over: the scheduler is stopping
            if not self._ever_renewed and time.time() - self._started < self.lease:
                return False  # joining, first heartbeat not back yet: a joining member owns nothing anyway
            return True  # our lease ran out (or never came): fail open, probe everything
        return rendezvous_owner(target_id, self.view.active(at + self.offset)) == self.member

    # -- the heartbeat ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._started = time.time()
            self._task = asyncio.create_task(self._run(), name="cluster heartbeat")

    async def _run(self) -> None:
        while True:
            began = time.monotonic()
            await self.beat()
            await asyncio.sleep(max(0.0, self.heartbeat - (time.monotonic() - began)))

    async def beat(self) -> bool:
        """One heartbeat; False (counted, logged) when the database could not be reached."""
        # a joining member owns nothing until its first answer, so that answer may take the whole lease (a busy
        # database forks a backend slowly); cutting it at two heartbeats and starting over could keep a replica
        # that would have been answered in time from ever joining before it fails open
        limit = self.heartbeat * 2 if self._ever_renewed else self.lease
        try:
            async with asyncio.timeout(limit):
                conn = await self._connection(limit)  # a heartbeat: two heartbeat periods, the first the lease
                sent = time.time()
                rows = await conn.fetch(
                    "SELECT * FROM healthboard_cluster_heartbeat($1, $2, $3, $4, $5)",
                    self.region, self.member, self.incarnation, self.lease, self.join_delay,
                )
                received = time.time()
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.metrics.heartbeat_errors.inc()
            await self._drop_connection()
            if self.coordinated or not self._ever_renewed:
                log.warning("cluster heartbeat failed (%s); the lease holds until it runs out, then this replica probes every target",
                            scrub(f"{type(exc).__name__}: {exc}"))
            self._refresh_state()
            return False
        members = tuple(Member(r["member"], r["active_from"], r["expires_at"]) for r in rows)
        if rows:
            self.offset = rows[0]["db_now"] - (sent + received) / 2
            if rows[0]["took_over"]:
                self.metrics.takeovers.inc()
                log.warning("cluster member name %r was live under another process: a restart within the lease, or two replicas "
                            "with the same cluster.member (give each its own)", self.member)
        was_coordinated = self.coordinated
        self.view = Membership(members)
        self._own = next((m for m in members if m.name == self.member), None)
        self._ever_renewed = True
        if not was_coordinated and self.coordinated:
            log.info("cluster: member %s of region %s, %d members (%s)", self.member, self.region, len(members),
                     ", ".join(m.name for m in members))
        self._refresh_state()
        return True

    def _refresh_state(self) -> None:
        coordinated = self.coordinated
        if self._reported_coordinated and not coordinated:
            log.error("cluster lease of %s ran out without a heartbeat: probing every target of region %s until the database answers",
                      self.member, self.region)
        self._reported_coordinated = coordinated
        self.metrics.coordinated.set(1 if coordinated else 0)
        self.metrics.members.set(len(self.view.active(time.time() + self.offset)) if self.coordinated else 0)

    async def _connection(self, limit: float) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn.reveal(), timeout=min(self.connect_timeout, limit), statement_cache_size=0)
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    # -- leaving ----------------------------------------------------------------------------------

    async def leave(self) -> None:
        """Hand this replica's targets over: shorten the lease to the join delay, wait it out (the scheduler keeps
        probing meanwhile), then stop heartbeating."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._leaving = True
        try:
            if self.coordinated:
                async with asyncio.timeout(self.heartbeat * 2):
                    conn = await self._connection(self.heartbeat * 2)
                    until = await conn.fetchval("SELECT healthboard_cluster_leave($1, $2, $3, $4)",
                                                self.region, self.member, self.incarnation, self.join_delay)
                if self._own is not None:
                    self._own = Member(self._own.name, self._own.active_from, min(self._own.expires_at, until))
                wait = min(self.join_delay, until - (time.time() + self.offset))
                if wait > 0:
                    log.info("cluster: leaving; probing this replica's targets for %.1fs more while the others take them over", wait)
                    await asyncio.sleep(wait)
        except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cluster leave failed (%s): the others take this replica's targets over when its lease runs out",
                        scrub(f"{type(exc).__name__}: {exc}"))
        finally:
            self._own = None
            self._reported_coordinated = False
            self.metrics.coordinated.set(0)
            await self._drop_connection()
