#!/usr/bin/env python3
"""Recovery from real faults, with three real `passcom peer` processes on 127.0.0.1.

Scenarios, run in order on one network (started with --fresh-network, the only time that
flag is given):

  (a) long outage: boreal is stopped (SIGTERM); rumos sells >= 5,000 tickets of giro's
      flights and giro >= 5,000 of rumos's, one ticket per purchase, spread over ~84 flights
      across the week, about 60 per flight, well beyond each seller's escrow share (20 to 36
      seats), so refills from the owner must move seats (asserted: sales beyond the escrow
      held before); boreal is started again on the same data folder. Within 30 s of the
      restart every peer's vector clock must be equal, boreal active and tickets_known
      equal at all three.
  (b) lost disk: giro sells a few hundred tickets (key and ticket id recorded), waits until
      every peer holds them (a crash before that may lose what nobody else received), is
      killed with SIGKILL, loses passcom.redb (identity key, operator token and accounts stay) and
      is started again with the same flags. It must show `recovering`, then `active`; within
      30 s its clock must equal the others'; it must hold every ticket it had sold; 50 of the
      recorded keys retried at giro must give the same ticket ids (never a new sale); 100 new
      sales must succeed; no (flight, seat) may be on two live tickets in the union of
      /admin/tickets of all three; no peer may report an equivocation.
  (c) transient refusals are not final: rumos is cut off from everyone (/admin/partition at
      rumos, no list); at giro a chosen seat of a rumos flight that giro's seat map shows
      held by rumos is refused with 503 `holder_unreachable`; after /admin/heal, the same
      Idempotency-Key with the same body must sell that seat within 10 s. (giro first sells
      one ticket of that flight from its own pool.) Then a control with everyone connected:
      a chosen seat held by rumos, on a flight whose escrow pool giro still holds whole, must
      sell at giro within 10 s.
  (d) twins: a second process with giro's identity (identity.key and operator token copied
      into an empty folder) starts while giro runs. Within 30 s it must be `halted`, saying
      another process runs with its identity, having sold nothing; giro sells on; no peer
      reports an equivocation.

Every wait and loop is bounded in count and time, the whole run in RUN_LIMIT_S; the peers are
killed and the temporary folder removed at the end, also on failure or Ctrl-C
(RECOVERY_KEEP=1 keeps the folder, with the peers' logs, for a post-mortem).

Usage: scripts/recovery.py path/to/passcom
Environment: RECOVERY_SALES (default 5000, the tickets each seller sells in (a)),
RECOVERY_THREADS (default 8 client threads per seller).
Prints each figure, a JSON summary and `recovery: N passed, 0 failed` (exit 0), or a line
`recovery: FAILED: ...` saying which assertion failed (exit 1). Standard library only.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

AIRLINES = ("rumos", "giro", "boreal")
HOST = "127.0.0.1"
RUN_LIMIT_S = 360.0          # the whole run
START_LIMIT_S = 60.0         # first start: all active, reachable, catalogs known, clocks equal
CONVERGE_LIMIT_S = 30.0      # (a), (b): clocks equal within this of a restart
OBSERVE_LIMIT_S = 45.0       # how long a restart is watched (beyond the limit, for the figure)
HEAL_SELL_LIMIT_S = 10.0     # (c): the retried key sells within this of the heal
SALES = int(os.environ.get("RECOVERY_SALES", "5000"))
THREADS = max(1, int(os.environ.get("RECOVERY_THREADS", "8")))
SALE_PHASE_LIMIT_S = 200.0   # (a): the two sellers' phase
SALES_PER_FLIGHT = 60        # (a): about this many tickets per flight (escrow shares: 20 to 36)
LOST_DISK_SALES = 300        # (b): sold at giro before the crash
RETRIED_KEYS = 50            # (b): keys retried after recovery
NEW_SALES = 100              # (b): sold after recovery
MIN_LEAD_MS = 45 * 60 * 1000  # only flights departing at least this far ahead are sold
POLL_S = 0.1

T0 = time.monotonic()
START_POOLS = {}  # {rumos flight: seats giro held of it at start} (its escrow share)


def log(msg):
    print(f"[recovery {time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failure(Exception):
    """An assertion of the test failed (the message says which)."""


class Abort(Exception):
    """The test could not go on (setup, a bound ran out, the budget)."""


def left():
    return RUN_LIMIT_S - (time.monotonic() - T0)


def check_budget(what):
    if left() <= 0:
        raise Abort(f"the run exceeded its {RUN_LIMIT_S:.0f} s budget during {what}")


def fmt(x, nd=3):
    return None if x is None else round(x, nd)


# ---------------------------------------------------------------------------------------------
# HTTP (one keep-alive connection per thread and port)

_local = threading.local()


def _conn(port, timeout):
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    c = conns.get(port)
    if c is None:
        c = conns[port] = http.client.HTTPConnection(HOST, port, timeout=timeout)
    c.timeout = timeout
    if c.sock is not None:
        c.sock.settimeout(timeout)
    return c


def _drop(port):
    c = getattr(_local, "conns", {}).pop(port, None)
    if c is not None:
        c.close()


def http_call(port, method, path, body=None, token=None, key=None, timeout=5.0):
    """One request. Returns (status, parsed JSON or text, seconds); status 0 when no answer
    came (connection refused, reset, timeout). A request on a kept-alive connection that the
    server had closed is sent once more on a new connection (purchases carry their key, so a
    second send cannot buy twice)."""
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    t = time.monotonic()
    for attempt in range(2):
        c = _conn(port, timeout)
        fresh = c.sock is None
        try:
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            raw, status = r.read(), r.status
            if r.will_close:
                _drop(port)
            break
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
            _drop(port)
            if fresh or attempt == 1:
                return 0, str(e), time.monotonic() - t
        except (OSError, http.client.HTTPException) as e:
            _drop(port)
            return 0, str(e), time.monotonic() - t
    took = time.monotonic() - t
    try:
        return status, (json.loads(raw) if raw else None), took
    except ValueError:
        return status, raw.decode(errors="replace"), took


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Peers


class Peer:
    def __init__(self, airline, binary, root, p2p_port, http_port):
        self.airline = airline
        self.binary = binary
        self.data = os.path.join(root, airline)
        self.log_path = os.path.join(root, f"{airline}.log")
        self.p2p_port = p2p_port
        self.http_port = http_port
        self.bootstrap = []
        self.proc = None
        self._log = None
        self.op_token = None
        self.session = None
        self.starts = 0

    def cmd(self, fresh):
        c = [self.binary, "peer", "--airline", self.airline, "--data", self.data,
             "--listen", f"/ip4/{HOST}/tcp/{self.p2p_port}", "--http",
             f"{HOST}:{self.http_port}", "--demo-catalog"]
        for port in self.bootstrap:
            c += ["--bootstrap", f"/ip4/{HOST}/tcp/{port}"]
        if fresh:
            c.append("--fresh-network")
        return c

    def start(self, fresh=False):
        os.makedirs(self.data, exist_ok=True)
        self.starts += 1
        self._log = open(self.log_path, "ab")
        self._log.write(f"===== start {self.starts} (fresh={fresh}) =====\n".encode())
        self._log.flush()
        # A session of its own: a Ctrl-C at the terminal reaches the script only, which then
        # stops the peers itself.
        # PASSCOM_* variables of the caller (PASSCOM_FRESH_NETWORK above all) must not change
        # what the flags say.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PASSCOM_")}
        self.proc = subprocess.Popen(self.cmd(fresh), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)
        return time.monotonic()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, wait_s=10.0):
        """Sends `sig` to this peer (by its pid) and waits, bounded, for it to exit; SIGKILL
        if it does not. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        rc = self.proc.returncode
        if self._log:
            self._log.close()
            self._log = None
        return rc

    def operator_token(self):
        if self.op_token is None:
            try:
                with open(os.path.join(self.data, "operator.token")) as f:
                    self.op_token = f.read().strip() or None
            except OSError:
                pass
        return self.op_token

    def call(self, method, path, body=None, key=None, admin=False, timeout=5.0):
        token = self.operator_token() if admin else self.session
        return http_call(self.http_port, method, path, body, token, key, timeout)

    def status(self, timeout=2.0, flights=0, airline=None):
        q = f"/admin/status?flights={flights}" + (f"&airline={airline}" if airline else "")
        code, body, _ = self.call("GET", q, admin=True, timeout=timeout)
        return body if code == 200 and isinstance(body, dict) else None

    def tickets(self, timeout=20.0):
        code, body, _ = self.call("GET", "/admin/tickets", admin=True, timeout=timeout)
        if code != 200 or not isinstance(body, list):
            raise Abort(f"GET /admin/tickets at {self.airline}: {code} {str(body)[:300]}")
        return body

    def buy(self, legs, key, passenger="Recovery Test", timeout=10.0):
        return self.call("POST", "/api/purchases", {"passenger": passenger, "legs": legs},
                         key=key, timeout=timeout)

    def tail(self, n=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def clock_of(st):
    return {k: v for k, v in (st or {}).get("clock", {}).items() if v}


def reachable(st, partner):
    return any(p.get("airline") == partner and p.get("reachable")
               for p in (st or {}).get("peers", []))


def wait_http(peer, limit_s):
    """Until the peer answers /api/health and its operator token exists (bounded)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if not peer.running():
            raise Abort(f"{peer.airline} exited with {peer.proc.returncode}:\n{peer.tail()}")
        if peer.operator_token() and http_call(peer.http_port, "GET", "/api/health",
                                               timeout=1.0)[0] == 200:
            return
        time.sleep(0.05)
    raise Abort(f"{peer.airline}'s HTTP did not answer within {limit_s:.0f} s:\n{peer.tail()}")


def snapshot(peers):
    return {a: p.status() for a, p in peers.items()}


def excerpt(st):
    """The part of a status document worth printing."""
    if not st:
        return None
    return {"state": st.get("state"), "state_detail": st.get("state_detail"),
            "clock": st.get("clock"), "tickets_known": st.get("tickets_known"),
            "equivocations": st.get("equivocations"),
            "pending_purchases": st.get("pending_purchases"),
            "handovers": len(st.get("handovers", [])),
            "peers": [{k: p.get(k) for k in ("airline", "connected", "reachable",
                                              "last_heard_ms_ago")}
                      for p in st.get("peers", [])]}


def converged(views):
    """All answered, all active, equal clocks, equal tickets_known."""
    if any(v is None for v in views.values()):
        return False
    clocks = [clock_of(v) for v in views.values()]
    known = {v.get("tickets_known") for v in views.values()}
    return (all(v.get("state") == "active" for v in views.values())
            and all(c == clocks[0] for c in clocks) and len(known) == 1)


def wait_converged(peers, limit_s, what):
    end = time.monotonic() + limit_s
    t = time.monotonic()
    views = {}
    while time.monotonic() < end:
        check_budget(what)
        views = snapshot(peers)
        if converged(views):
            return time.monotonic() - t, views
        time.sleep(0.2)
    raise Abort(f"{what}: the peers did not converge within {limit_s:.0f} s: "
                + json.dumps({a: excerpt(v) for a, v in views.items()}))


TWIN_HALT_LIMIT_S = 30.0     # (d): the twin halts within this of its start


def scenario_d(peers, res, root, binary):
    """(d) twins: a second `passcom peer` with giro's identity (its identity.key and operator
    token copied into an empty data folder, as a careless restore would), on ports of its own,
    dialling rumos and boreal while giro runs. It must halt within TWIN_HALT_LIMIT_S, saying
    another process runs with its identity, without selling anything; giro must sell on, and
    no peer may see two versions of an event."""
    giro = peers["giro"]
    twin = Peer("giro", binary, os.path.join(root, "twin"), free_port(), free_port())
    os.makedirs(twin.data, exist_ok=True)
    for f in ("identity.key", "operator.token"):
        shutil.copy2(os.path.join(giro.data, f), os.path.join(twin.data, f))
    twin.bootstrap = [peers["rumos"].p2p_port, peers["boreal"].p2p_port]
    t0 = twin.start()
    try:
        wait_http(twin, 30)
        make_session(twin, name="twin-traveler")
        flights = upcoming_flights(giro, "rumos")[:5]
        halted, sold, answers = None, 0, {}
        while time.monotonic() - t0 < TWIN_HALT_LIMIT_S:
            f = flights[len(answers) % len(flights)] if flights else None
            if f:
                code, body, _ = twin.buy([{"flight": f}], f"d-{uuid.uuid4().hex[:16]}",
                                         timeout=5)
                reason = body.get("reason") if isinstance(body, dict) else None
                answers[f"{code} {reason}"] = answers.get(f"{code} {reason}", 0) + 1
                sold += code == 201
            st = twin.status(timeout=2)
            if st and st.get("state") == "halted":
                halted = (time.monotonic() - t0, st.get("state_detail") or "")
                break
            time.sleep(0.2)
        log(f"(d) the twin's purchases: {answers}; halted: {halted}")
        res.figures["d_twin_halted_s"] = fmt(halted[0], 1) if halted else None
        res.figures["d_twin_answers"] = answers
        res.check(halted is not None and "another process" in halted[1],
                  f"(d) a second process with giro's identity halts within "
                  f"{TWIN_HALT_LIMIT_S:.0f} s, saying why",
                  f"{twin.status(timeout=2)}")
        res.check(sold == 0, "(d) the twin sold nothing", f"{answers}")
    finally:
        twin.stop(signal.SIGTERM, wait_s=5)
    flights = upcoming_flights(giro, "rumos")[:5]
    code, body, _ = giro.buy([{"flight": flights[0]}], f"d-after-{uuid.uuid4().hex[:16]}")
    res.check(code == 201, "(d) giro sells on beside its twin and after it",
              f"{code} {str(body)[:300]}")
    for a, p in peers.items():
        st = p.status(timeout=5) or {}
        res.check(st.get("equivocations", 0) == 0 and st.get("state") == "active",
                  f"(d) {a} active and saw no equivocation",
                  f"{st.get('state')} {st.get('equivocations')}")


class Result:
    def __init__(self):
        self.passed = 0
        self.figures = {}

    def check(self, ok, what, detail=None):
        if not ok:
            raise Failure(what + (f" — {detail}" if detail else ""))
        self.passed += 1
        log(f"ok   {what}")


def make_session(peer, name="recovery", password="recovery-test-password"):
    code, body, _ = peer.call("POST", "/api/accounts", {"name": name, "password": password},
                              timeout=30)
    if code not in (201, 409):
        raise Abort(f"account at {peer.airline}: {code} {body}")
    code, body, _ = peer.call("POST", "/api/sessions", {"name": name, "password": password},
                              timeout=30)
    if code != 201 or not isinstance(body, dict) or not body.get("token"):
        raise Abort(f"login at {peer.airline}: {code} {body}")
    peer.session = body["token"]


def parse_utc(s):
    """`YYYY-MM-DDTHH:MMZ` to ms since the epoch."""
    import calendar
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%MZ")) * 1000


def escrow_held(peer, airline):
    """{flight: seats `peer` holds itself} of `airline`'s upcoming flights."""
    st = peer.status(timeout=10, flights=1000, airline=airline)
    return {p["flight"]: p["seats"]["here"] for p in (st or {}).get("pools", [])}


def upcoming_flights(peer, airline):
    """Flights of `airline` as `peer` sees them, departing at least MIN_LEAD_MS from now."""
    st = peer.status(timeout=10, flights=1000, airline=airline)
    if st is None:
        raise Abort(f"no status from {peer.airline}")
    now_ms = time.time() * 1000
    return [p["flight"] for p in st.get("pools", [])
            if p.get("airline") == airline and parse_utc(p["departure_utc"]) > now_ms + MIN_LEAD_MS]


# ---------------------------------------------------------------------------------------------
# Selling


class Seller:
    """Sells `target` one-ticket purchases of `flights` at `peer` with `threads` client
    threads, round-robin over the flights (a flight that answers sold out or departed leaves
    the rotation). A purchase that got no final answer (503, timeout, no connection) is sent
    again under the same key and body, at most 4 times."""

    def __init__(self, peer, flights, target, threads, deadline, prefix):
        self.peer, self.target, self.deadline = peer, target, deadline
        self.flights = list(flights)
        self.threads = threads
        self.prefix = prefix
        self.lock = threading.Lock()
        self.next = 0
        self.sold = {}          # key -> (ticket id, legs body, ticket legs)
        self.refusals = {}      # reason -> count
        self.attempts = 0
        self.latencies = []
        self.dead = set()
        self.error = None

    def _pick(self):
        with self.lock:
            if len(self.sold) >= self.target or self.error:
                return None
            live = [f for f in self.flights if f not in self.dead]
            if not live:
                self.error = f"{self.peer.airline}: every flight sold out or departed"
                return None
            f = live[self.next % len(live)]
            self.next += 1
            return f

    def _count(self, reason):
        with self.lock:
            self.refusals[reason] = self.refusals.get(reason, 0) + 1

    def _work(self):
        max_attempts = 4 * self.target + 200
        while time.monotonic() < self.deadline:
            with self.lock:
                if self.attempts >= max_attempts:
                    self.error = self.error or f"{self.peer.airline}: {max_attempts} attempts"
                    return
            flight = self._pick()
            if flight is None:
                return
            key = f"{self.prefix}-{uuid.uuid4().hex[:20]}"
            legs = [{"flight": flight}]
            for _ in range(4):
                with self.lock:
                    self.attempts += 1
                code, body, took = self.peer.buy(legs, key)
                reason = body.get("reason") if isinstance(body, dict) else None
                if code == 201 and isinstance(body, dict) and body.get("id"):
                    with self.lock:
                        self.sold[key] = (body["id"], legs, body.get("legs", []))
                        self.latencies.append(took)
                    break
                self._count(f"{code} {reason}")
                if code in (409, 410):
                    with self.lock:
                        self.dead.add(flight)
                    break
                if code == 0 or code == 503:
                    time.sleep(0.05)
                    continue
                # Anything else (4xx) is a bug of this script or of the peer: stop.
                with self.lock:
                    self.error = self.error or (f"{self.peer.airline}: purchase of {flight} "
                                                f"answered {code}: {str(body)[:300]}")
                return

    def run(self):
        ts = [threading.Thread(target=self._work, daemon=True) for _ in range(self.threads)]
        for t in ts:
            t.start()
        return ts


def run_sellers(sellers):
    t = time.monotonic()
    threads = [th for s in sellers for th in s.run()]
    last = time.monotonic()
    while any(th.is_alive() for th in threads):
        time.sleep(0.5)
        if time.monotonic() - last >= 10:
            last = time.monotonic()
            el = last - t
            log("selling: " + ", ".join(
                f"{s.peer.airline} {len(s.sold)}/{s.target} ({len(s.sold) / el:.0f}/s)"
                for s in sellers))
        if time.monotonic() > max(s.deadline for s in sellers) + 15:
            raise Abort("client threads did not stop after the selling deadline")
    return time.monotonic() - t


def percentile(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---------------------------------------------------------------------------------------------
# The scenarios


def start_network(peers, res):
    for p in peers.values():
        p.start(fresh=True)
    for p in peers.values():
        wait_http(p, 30)
    for a in ("rumos", "giro"):
        make_session(peers[a])
    # Every peer active, every partner reachable, every airline's flights known everywhere,
    # clocks equal (the demo catalogs are loaded and replicated).
    end = time.monotonic() + START_LIMIT_S
    views = {}
    while time.monotonic() < end:
        views = snapshot(peers)
        ok = converged(views) and all(
            reachable(v, b) for a, v in views.items() for b in peers if b != a)
        if ok and all(clock_of(views["rumos"]).get(a) for a in peers):
            counts = {(a, b): len(upcoming_flights(peers[a], b)) for a in peers for b in peers}
            if all(c > 0 for c in counts.values()) and len(
                    {c for (a, b), c in counts.items() if b == "giro"}) == 1:
                START_POOLS.update(escrow_held(peers["giro"], "rumos"))
                return time.monotonic() - T0, views
        time.sleep(0.25)
    raise Abort(f"the network did not start within {START_LIMIT_S:.0f} s: "
                + json.dumps({a: excerpt(v) for a, v in views.items()}))


def scenario_a(peers, res):
    log("(a) long outage: stopping boreal with SIGTERM")
    boreal = peers["boreal"]
    rc = boreal.stop(signal.SIGTERM)
    log(f"(a) boreal exited with {rc}")
    rumos, giro = peers["rumos"], peers["giro"]
    # Each seller sells over a spread-out subset of its partner's flights, sized so that each
    # flight sells well beyond the seller's escrow share: the rest must move by refills.
    pools = {}
    chosen = {}
    for seller, owner in ((rumos, "giro"), (giro, "rumos")):
        here = escrow_held(seller, owner)
        flights = upcoming_flights(seller, owner)
        n = max(1, min(len(flights), -(-SALES // SALES_PER_FLIGHT)))
        step = len(flights) / n
        chosen[seller.airline] = [flights[int(i * step)] for i in range(n)]
        pools[seller.airline] = {f: here.get(f, 0) for f in chosen[seller.airline]}
    giro_flights, rumos_flights = chosen["rumos"], chosen["giro"]
    escrow = {a: sum(v.values()) for a, v in pools.items()}
    log(f"(a) rumos sells over {len(giro_flights)} of giro's flights (escrow held there: "
        f"{escrow['rumos']} seats), giro over {len(rumos_flights)} of rumos's ({escrow['giro']}): "
        f"{SALES} tickets each, {THREADS} client threads each")
    deadline = time.monotonic() + min(SALE_PHASE_LIMIT_S, left() - 120)
    sellers = [Seller(rumos, giro_flights, SALES, THREADS, deadline, "a-ru"),
               Seller(giro, rumos_flights, SALES, THREADS, deadline, "a-gi")]
    took = run_sellers(sellers)
    total = sum(len(s.sold) for s in sellers)
    for s in sellers:
        lat = s.latencies
        log(f"(a) {s.peer.airline}: {len(s.sold)} sold in {took:.1f} s, {s.attempts} attempts, "
            f"latency p50 {fmt(percentile(lat, 0.5))} s p99 {fmt(percentile(lat, 0.99))} s, "
            f"refusals {s.refusals}, flights sold out {len(s.dead)}")
    res.figures["a_sales"] = {s.peer.airline: {
        "sold": len(s.sold), "attempts": s.attempts, "refusals": s.refusals,
        "flights_sold_out": len(s.dead), "latency_p50_s": fmt(percentile(s.latencies, 0.5)),
        "latency_p99_s": fmt(percentile(s.latencies, 0.99))} for s in sellers}
    res.figures["a_sale_s"] = fmt(took, 1)
    res.figures["a_tickets_per_s"] = fmt(total / took, 1) if took else None
    for s in sellers:
        res.check(s.error is None, f"(a) {s.peer.airline}'s sales ran without an error", s.error)
        res.check(len(s.sold) >= SALES,
                  f"(a) {s.peer.airline} sold {len(s.sold)} >= {SALES} tickets of its partner's "
                  f"flights while boreal was down")
    for s in sellers:
        per_flight = {}
        for _, legs, _ in s.sold.values():
            per_flight[legs[0]["flight"]] = per_flight.get(legs[0]["flight"], 0) + 1
        pool = pools[s.peer.airline]
        beyond = sum(max(0, n - pool.get(f, 0)) for f, n in per_flight.items())
        res.figures["a_sales"][s.peer.airline]["escrow_held_before"] = sum(pool.values())
        res.figures["a_sales"][s.peer.airline]["sold_beyond_escrow"] = beyond
        log(f"(a) {s.peer.airline}: {beyond} of its {len(s.sold)} sales used seats beyond its "
            f"escrow share (moved to it by refills from the owner)")
        res.check(beyond > 0, f"(a) {s.peer.airline}'s sales moved seats by refills "
                              f"({beyond} sold beyond its escrow share)")
    ids = [v[0] for s in sellers for v in s.sold.values()]
    res.check(len(set(ids)) == len(ids), f"(a) {len(ids)} sales gave {len(ids)} distinct tickets",
              f"{len(ids) - len(set(ids))} ticket ids repeated")
    # Where the others stand before boreal returns.
    views = snapshot({a: peers[a] for a in ("rumos", "giro")})
    log(f"(a) before the restart: rumos clock {clock_of(views['rumos'])}, tickets_known "
        f"{views['rumos'] and views['rumos'].get('tickets_known')}; giro clock "
        f"{clock_of(views['giro'])}")
    check_budget("(a)")

    log("(a) restarting boreal on the same data folder (no --fresh-network)")
    t_start = boreal.start(fresh=False)
    seen = {"http": None, "active": None, "clocks_equal": None, "all": None}
    states = []
    views = {}
    end = t_start + OBSERVE_LIMIT_S
    while time.monotonic() < end and seen["all"] is None:
        check_budget("(a) boreal's restart")
        if not boreal.running():
            raise Abort(f"boreal exited with {boreal.proc.returncode}:\n{boreal.tail()}")
        views = snapshot(peers)
        at = time.monotonic() - t_start
        b = views["boreal"]
        if b is not None:
            seen["http"] = seen["http"] if seen["http"] is not None else at
            if not states or states[-1] != b.get("state"):
                states.append(b.get("state"))
            if seen["active"] is None and b.get("state") == "active":
                seen["active"] = at
                res.figures["a_boreal_clock_when_first_seen_active"] = clock_of(b)
                log(f"(a) boreal first seen active at {at:.2f} s with clock {clock_of(b)}")
            if b.get("state") == "halted":
                raise Failure(f"(a) boreal HALTED {at:.2f} s after its restart (states seen "
                              f"{states}): " + json.dumps(excerpt(b)))
        if all(views.values()):
            clocks = [clock_of(v) for v in views.values()]
            if seen["clocks_equal"] is None and all(c == clocks[0] for c in clocks):
                seen["clocks_equal"] = at
            if converged(views):
                seen["all"] = at
        time.sleep(POLL_S)
    log(f"(a) boreal after restart: HTTP up at {fmt(seen['http'])} s, states {states}, "
        f"active at {fmt(seen['active'])} s, clocks equal at {fmt(seen['clocks_equal'])} s, "
        f"all converged at {fmt(seen['all'])} s")
    res.figures["a_restart"] = {k: fmt(v) for k, v in seen.items()} | {"boreal_states": states}
    detail = json.dumps({a: excerpt(v) for a, v in views.items()})
    took_all = "never" if seen["all"] is None else f"{seen['all']:.2f} s"
    ok = seen["all"] is not None and seen["all"] <= CONVERGE_LIMIT_S
    res.check(ok, f"(a) within {CONVERGE_LIMIT_S:.0f} s of boreal's restart all clocks equal, "
                  f"boreal active, tickets_known equal (took {took_all})",
              None if ok else detail)
    v = views
    res.figures["a_after"] = {a: {"clock": clock_of(v[a]), "tickets_known": v[a].get("tickets_known")}
                              for a in v}
    log(f"(a) after: {json.dumps(res.figures['a_after'])}")
    res.check(v["boreal"].get("tickets_known", 0) >= total,
              f"(a) boreal knows {v['boreal'].get('tickets_known')} >= {total} tickets sold while "
              f"it was down")


def scenario_b(peers, res):
    giro = peers["giro"]
    flights = {a: upcoming_flights(giro, a) for a in AIRLINES}
    # Mostly giro's own flights, some of each partner's (escrow seats and refills).
    rotation = []
    for i in range(max(len(f) for f in flights.values())):
        for a, n in (("giro", 2), ("rumos", 1), ("boreal", 1)):
            fl = flights[a]
            for j in range(n):
                if fl:
                    rotation.append(fl[(i * n + j) % len(fl)])
    log(f"(b) lost disk: giro sells {LOST_DISK_SALES} tickets")
    deadline = time.monotonic() + min(60, left() - 90)
    seller = Seller(giro, rotation, LOST_DISK_SALES, min(4, THREADS), deadline, "b-gi")
    took = run_sellers([seller])
    log(f"(b) giro sold {len(seller.sold)} in {took:.1f} s, refusals {seller.refusals}")
    res.check(len(seller.sold) >= LOST_DISK_SALES,
              f"(b) giro sold {len(seller.sold)} >= {LOST_DISK_SALES} tickets before the crash",
              seller.error)
    before = dict(seller.sold)  # key -> (ticket id, legs, ticket legs)
    # Give replication its chance (a crash right after a commit may lose events nobody else
    # received yet: that is what catch-up from partners cannot bring back).
    t_rep, views = wait_converged(peers, 20, "(b) before the crash")
    log(f"(b) replicated to every peer {t_rep:.2f} s after the last sale: clock "
        f"{clock_of(views['giro'])}, tickets_known {views['giro'].get('tickets_known')}")
    clock_before = clock_of(views["giro"])
    res.figures["b_before_crash"] = {"giro_clock": clock_before,
                                     "tickets_known": views["giro"].get("tickets_known")}
    rc = giro.stop(signal.SIGKILL)
    log(f"(b) giro killed with SIGKILL (exit {rc})")
    files = sorted(os.listdir(giro.data))
    db = os.path.join(giro.data, "passcom.redb")
    if not os.path.exists(db):
        raise Abort(f"giro's data folder has no passcom.redb: {files}")
    os.remove(db)
    log(f"(b) deleted {db}; data folder was {files}, now {sorted(os.listdir(giro.data))}")
    check_budget("(b)")

    t_start = giro.start(fresh=False)
    states = []
    seen = {"http": None, "recovering": None, "active": None, "clock_equal": None}
    views = {}
    end = t_start + OBSERVE_LIMIT_S
    while time.monotonic() < end and (seen["active"] is None or seen["clock_equal"] is None):
        check_budget("(b) giro's restart")
        if not giro.running():
            raise Abort(f"giro exited with {giro.proc.returncode}:\n{giro.tail()}")
        g = giro.status(timeout=1.0)
        at = time.monotonic() - t_start
        if g is None:
            time.sleep(0.02)
            continue
        seen["http"] = seen["http"] if seen["http"] is not None else at
        st = g.get("state")
        if not states or states[-1] != st:
            states.append(st)
            log(f"(b) giro state {st} at {at:.2f} s ({g.get('state_detail')}), clock "
                f"{clock_of(g)}")
        if st == "halted":
            raise Failure(f"(b) giro HALTED {at:.2f} s after the restart with a lost disk "
                          f"(states seen {states}): "
                          + json.dumps({a: excerpt(v) for a, v in snapshot(peers).items()}))
        if st == "recovering" and seen["recovering"] is None:
            seen["recovering"] = at
            # A new purchase must be refused while recovering.
            code, body, _ = giro.buy([{"flight": flights["giro"][0]}],
                                     f"b-rec-{uuid.uuid4().hex[:12]}", timeout=5)
            reason = body.get("reason") if isinstance(body, dict) else None
            res.figures["b_purchase_while_recovering"] = f"{code} {reason}"
            log(f"(b) a new purchase at giro while recovering: {code} {reason}")
            if code == 201 and (giro.status() or {}).get("state") == "recovering":
                raise Failure("(b) giro sold a ticket while its state was recovering")
        if st == "active" and seen["active"] is None:
            seen["active"] = at
            res.figures["b_giro_clock_when_first_seen_active"] = clock_of(g)
        if seen["active"] is not None:
            views = snapshot(peers)
            if all(views.values()):
                clocks = [clock_of(v) for v in views.values()]
                if all(c == clocks[0] for c in clocks):
                    seen["clock_equal"] = time.monotonic() - t_start
        time.sleep(0.03 if seen["active"] is None else POLL_S)
    log(f"(b) giro after the lost disk: HTTP at {fmt(seen['http'])} s, states {states}, "
        f"recovering at {fmt(seen['recovering'])} s, active at {fmt(seen['active'])} s, "
        f"clock equal to the others' at {fmt(seen['clock_equal'])} s")
    res.figures["b_restart"] = {k: fmt(v) for k, v in seen.items()} | {"giro_states": states}
    res.check("recovering" in states and "active" in states
              and states.index("recovering") < states.index("active"),
              f"(b) giro showed recovering, then active (states seen: {states})",
              json.dumps(excerpt(giro.status())))
    ok = seen["clock_equal"] is not None and seen["clock_equal"] <= CONVERGE_LIMIT_S
    res.check(ok, f"(b) within {CONVERGE_LIMIT_S:.0f} s of the restart giro's clock equals the "
                  f"others' (took {fmt(seen['clock_equal'])} s)",
              None if ok else json.dumps({a: excerpt(v) for a, v in snapshot(peers).items()}))
    g = giro.status()
    res.check(clock_of(g).get("giro", 0) >= clock_before.get("giro", 0),
              f"(b) giro's clock of itself is back to {clock_of(g).get('giro')} >= "
              f"{clock_before.get('giro')} (before the crash)")

    held = {t["id"]: t for t in giro.tickets()}
    missing = [(k, v[0]) for k, v in before.items() if v[0] not in held]
    res.check(not missing, f"(b) giro holds all {len(before)} tickets it had sold, by id",
              f"{len(missing)} missing, such as {missing[:5]}")
    changed = [v[0] for v in before.values()
               if [(l["flight"], l["seat"]) for l in held[v[0]]["legs"]]
               != [(l["flight"], l["seat"]) for l in v[2]]]
    res.check(not changed, "(b) every recovered ticket has the legs and seats it was sold with",
              f"{changed[:5]}")

    # The same keys again: the same tickets, never a new sale.
    known_before = g.get("tickets_known")
    retried = {}
    for key in list(before)[:: max(1, len(before) // RETRIED_KEYS)][:RETRIED_KEYS]:
        tid, legs, _ = before[key]
        code, body, _ = giro.buy(legs, key)
        got = body.get("id") if isinstance(body, dict) else None
        retried[key] = (code, got)
        if code != 201 or got != tid:
            raise Failure(f"(b) retrying key {key} at giro after the lost disk answered {code} "
                          f"{got or str(body)[:300]}, not ticket {tid}")
    res.check(len(retried) == RETRIED_KEYS,
              f"(b) {len(retried)} recorded keys retried at giro: each gave its original ticket")
    g2 = giro.status()
    res.check(g2.get("tickets_known") == known_before,
              f"(b) the retries sold nothing new (tickets_known {known_before} -> "
              f"{g2.get('tickets_known')})")

    # New sales after recovery.
    deadline = time.monotonic() + min(40, left() - 45)
    seller2 = Seller(giro, rotation[::-1], NEW_SALES, min(4, THREADS), deadline, "b-new")
    took = run_sellers([seller2])
    log(f"(b) giro sold {len(seller2.sold)} new tickets in {took:.1f} s, refusals "
        f"{seller2.refusals}")
    res.check(len(seller2.sold) >= NEW_SALES,
              f"(b) giro sold {len(seller2.sold)} >= {NEW_SALES} new tickets after recovery",
              seller2.error)
    old_ids = {v[0] for v in before.values()}
    reused = [v[0] for v in seller2.sold.values() if v[0] in old_ids]
    res.check(not reused, "(b) no new ticket reuses the id of one sold before the crash",
              f"{reused[:5]}")
    t_conv, views = wait_converged(peers, 20, "(b) after the new sales")
    log(f"(b) converged {t_conv:.2f} s after the new sales: "
        f"{ {a: v.get('tickets_known') for a, v in views.items()} }")

    # No seat on two live tickets, in the union of every peer's tickets.
    union = {}
    conflicts = []
    counts = {}
    for a, p in peers.items():
        ts = p.tickets()
        counts[a] = len(ts)
        for t in ts:
            sig = (t["status"], tuple((l["flight"], l["seat"]) for l in t["legs"]))
            prev = union.get(t["id"])
            if prev is not None and prev[1] != sig[1]:
                conflicts.append(f"ticket {t['id']} has legs {prev[1]} at one peer and "
                                 f"{sig[1]} at {a}")
            if prev is None or sig[0] == "cancelled":
                union[t["id"]] = sig
    seat_owner = {}
    doubles = []
    for tid, (status, legs) in union.items():
        if status != "live":
            continue
        for fs in legs:
            if fs in seat_owner and seat_owner[fs] != tid:
                doubles.append(f"{fs[0]}/{fs[1]} on {seat_owner[fs]} and {tid}")
            seat_owner[fs] = tid
    res.figures["b_tickets"] = {"per_peer": counts, "union": len(union),
                                "live_seats": len(seat_owner)}
    log(f"(b) /admin/tickets: {counts}, union {len(union)}, live seats {len(seat_owner)}")
    res.check(not conflicts, "(b) every ticket id has the same legs at every peer",
              "; ".join(conflicts[:5]))
    res.check(not doubles, f"(b) no (flight, seat) on two live tickets among {len(union)} tickets",
              "; ".join(doubles[:5]))
    res.check(len(set(counts.values())) == 1 and counts["giro"] == len(union),
              f"(b) every peer lists the same {len(union)} tickets", f"{counts}")
    eq = {a: (v or {}).get("equivocations") for a, v in snapshot(peers).items()}
    res.figures["equivocations"] = eq
    res.check(all(e == 0 for e in eq.values()), f"(b) equivocations 0 at every peer ({eq})",
              json.dumps({a: (v or {}).get("equivocation_list") for a, v in
                          snapshot(peers).items()}))


def held_seat(buyer, holder, flight):
    """A seat of `flight` that `buyer`'s seat map shows as `partner` held by `holder`, or None."""
    code, m, _ = buyer.call("GET", f"/api/flights/{flight}/seats", timeout=5)
    if code != 200 or not isinstance(m, dict):
        return None
    for s in m.get("seats", []):
        if s.get("status") == "partner" and s.get("holder") == holder:
            return s["seat"]
    return None


def candidate_flights(buyer, holder):
    """`holder`'s flights departing in more than two hours, as `buyer` sees them, with the
    seats `buyer` holds of each now: [(flight, here)], middle of the week first."""
    now_ms = time.time() * 1000
    st = buyer.status(timeout=10, flights=1000, airline=holder)
    pools = [(p["flight"], p["seats"]["here"]) for p in (st or {}).get("pools", [])
             if parse_utc(p["departure_utc"]) > now_ms + 2 * 3600 * 1000]
    return pools[len(pools) // 2:] + pools[: len(pools) // 2]


def buy_chosen_until_sold(buyer, legs, key, limit_s, max_tries=200):
    """Sends the same purchase (same key, same body) until it sells, a final refusal comes, or
    `limit_s` (+5 s for the request in flight) passes. Returns (seconds or None, ticket or None,
    answers)."""
    t0 = time.monotonic()
    answers = []
    while time.monotonic() - t0 < limit_s and len(answers) < max_tries:
        code, body, _ = buyer.buy(legs, key, timeout=limit_s + 5)
        reason = body.get("reason") if isinstance(body, dict) else None
        answers.append(f"{code} {reason}")
        if code == 201 and isinstance(body, dict):
            return time.monotonic() - t0, body, answers
        if code not in (0, 503):
            break
        time.sleep(0.2)
    return None, None, answers


def scenario_c(peers, res):
    rumos, giro = peers["rumos"], peers["giro"]
    # (c) proper: a chosen seat held by rumos, refused while rumos is cut off, sold after the
    # heal under the same key. giro first sells one ticket of that flight from its own pool,
    # so that it has room to receive one more seat of it (a partner whose pool of a flight is
    # full is sent no seat at all: the control below).
    cands = candidate_flights(giro, "rumos")
    flight = seat = None
    for f, _here in cands:
        seat = held_seat(giro, "rumos", f)
        if seat:
            flight = f
            break
    if flight is None:
        raise Abort("no seat of a rumos flight held by rumos in giro's seat maps")
    code, body, _ = giro.buy([{"flight": flight}], f"c-room-{uuid.uuid4().hex[:16]}")
    res.check(code == 201, f"(c) giro sold one ticket of {flight} first (its own pool)",
              f"{code} {str(body)[:300]}")
    seat = held_seat(giro, "rumos", flight) or seat
    log(f"(c) chosen seat {seat} of {flight}, held by rumos as giro's seat map shows")
    code, body, _ = rumos.call("POST", "/admin/partition", admin=True, timeout=15)
    res.check(code == 200 and isinstance(body, dict) and body.get("cut_off_from_all"),
              "(c) /admin/partition at rumos (no list) cut it off from everyone",
              f"{code} {str(body)[:300]}")
    t_cut = time.monotonic()
    t_unreach = None
    for _ in range(100):
        g = giro.status(timeout=1)
        if g is not None and not reachable(g, "rumos"):
            t_unreach = time.monotonic() - t_cut
            break
        time.sleep(0.1)
    log(f"(c) giro sees rumos unreachable {fmt(t_unreach)} s after the partition")
    res.check(t_unreach is not None, "(c) giro sees rumos unreachable after the partition")
    key = f"c-{uuid.uuid4().hex[:20]}"
    legs = [{"flight": flight, "seat": seat}]
    code, body, took = giro.buy(legs, key)
    reason = body.get("reason") if isinstance(body, dict) else None
    log(f"(c) purchase at giro during the partition: {code} {reason} in {took:.3f} s")
    res.figures["c_refusal"] = {"status": code, "reason": reason, "s": fmt(took)}
    res.check(code == 503 and reason == "holder_unreachable",
              "(c) the chosen seat held by cut-off rumos is refused with 503 holder_unreachable",
              f"{code} {str(body)[:300]}")
    code, body, _ = rumos.call("POST", "/admin/heal", admin=True, timeout=15)
    res.check(code == 200, "(c) /admin/heal at rumos answered 200", f"{code} {str(body)[:300]}")
    took, ticket, answers = buy_chosen_until_sold(giro, legs, key, HEAL_SELL_LIMIT_S)
    log(f"(c) retries of the same key after the heal: {len(answers)} ({answers[-5:]}); sold "
        f"after {fmt(took)} s")
    res.figures["c_heal_sell_s"] = fmt(took)
    res.figures["c_retries"] = len(answers)
    ok = (ticket is not None
          and [(l["flight"], l["seat"]) for l in ticket.get("legs", [])] == [(flight, seat)])
    res.check(ok, f"(c) within {HEAL_SELL_LIMIT_S:.0f} s of the heal the same key and body sold "
                  f"seat {seat} of {flight} (after {fmt(took)} s)",
              f"answers {answers[-10:]}" + (f", ticket {ticket}" if ticket else ""))
    code, body, _ = giro.buy(legs, key)
    res.check(code == 201 and isinstance(body, dict) and body.get("id") == ticket.get("id"),
              f"(c) once more with the key: the same ticket {ticket.get('id')}",
              f"{code} {str(body)[:200]}")

    # Control, everyone connected: a chosen seat held by rumos, bought at giro on a flight
    # whose escrow pool giro still holds whole (nothing sold there, the common case).
    full = None
    for f, here in cands:
        if f != flight and here > 0 and START_POOLS.get(f) == here:
            s0 = held_seat(giro, "rumos", f)
            if s0:
                full = (f, s0, here)
                break
    if full is None:
        log("(c) control skipped: no rumos flight where giro's pool is untouched")
        res.figures["c_control"] = "skipped"
        return
    f0, s0, here0 = full
    key0 = f"c0-{uuid.uuid4().hex[:20]}"
    took0, ticket0, answers0 = buy_chosen_until_sold(giro, [{"flight": f0, "seat": s0}], key0,
                                                     HEAL_SELL_LIMIT_S)
    log(f"(c) control: chosen seat {s0} of {f0} (held by rumos; giro holds its whole pool of "
        f"{here0} seats of it), all connected: answers {answers0[-5:]}, sold after "
        f"{fmt(took0)} s")
    res.figures["c_control"] = {"flight": f0, "seat": s0, "giro_pool": here0,
                                "answers": answers0[-5:], "sold_s": fmt(took0)}
    res.check(ticket0 is not None,
              f"(c) control: with every peer connected, a chosen seat held by rumos ({s0} of "
              f"{f0}) sells at giro, whose escrow pool of that flight is whole ({here0} seats), "
              f"within {HEAL_SELL_LIMIT_S:.0f} s",
              f"answers {answers0[-10:]}")


def run(binary, res):
    root = tempfile.mkdtemp(prefix="passcom-recovery-")
    # Every start and restart runs the same binary, even if the build replaces it meanwhile.
    copy = os.path.join(root, "passcom")
    shutil.copy2(binary, copy)
    binary = copy
    ports = {a: (free_port(), free_port()) for a in AIRLINES}
    peers = {a: Peer(a, binary, root, *ports[a]) for a in AIRLINES}
    for a, p in peers.items():
        p.bootstrap = [ports[b][0] for b in AIRLINES if b != a]
    ok = False
    try:
        log(f"data and logs in {root}; ports (p2p, http) {ports}")
        t, views = start_network(peers, res)
        res.figures["start_s"] = fmt(t, 1)
        log(f"network started and converged at {t:.1f} s: clock {clock_of(views['rumos'])}")
        scenarios = (("a", scenario_a), ("b", scenario_b), ("c", scenario_c),
                     ("d", lambda ps, r: scenario_d(ps, r, root, binary)))
        for name, fn in scenarios:
            check_budget(f"({name})")
            t = time.monotonic()
            fn(peers, res)
            res.figures[f"{name}_s"] = fmt(time.monotonic() - t, 1)
            log(f"({name}) done in {time.monotonic() - t:.1f} s")
        for p in peers.values():
            res.check(p.running(), f"{p.airline} still running at the end")
        ok = True
    finally:
        if not ok:
            for p in peers.values():
                log(f"last lines of {p.airline}'s log:\n{p.tail()}")
        for p in peers.values():
            try:
                p.stop(signal.SIGTERM, wait_s=5)
            except Exception as e:  # keep cleaning up
                log(f"stopping {p.airline}: {e}")
        if os.environ.get("RECOVERY_KEEP"):
            log(f"kept {root} (RECOVERY_KEEP is set)")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        print("usage: recovery.py path/to/passcom", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print(f"recovery: {binary} is not an executable passcom binary", file=sys.stderr)
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def on_alarm(signum, frame):
        raise Abort(f"the run exceeded its hard limit of {RUN_LIMIT_S + 20:.0f} s")

    signal.signal(signal.SIGTERM, on_term)
    # A last resort beyond every loop's own bound: the cleanup in `run` still runs.
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(RUN_LIMIT_S + 20))
    res = Result()
    failure = None
    try:
        run(binary, res)
    except Failure as e:
        failure = f"assertion failed: {e}"
    except Abort as e:
        failure = f"aborted: {e}"
    except KeyboardInterrupt as e:
        failure = f"interrupted ({e or 'Ctrl-C'})"
    signal.alarm(0)
    summary = {"passed": res.passed, "failed": 1 if failure else 0, "failure": failure,
               "total_s": fmt(time.monotonic() - T0, 1), **res.figures}
    print(json.dumps(summary), flush=True)
    if failure:
        print(f"recovery: FAILED: {failure}", flush=True)
        print(f"recovery: {res.passed} passed, 1 failed", flush=True)
        return 1
    print(f"recovery: {res.passed} passed, 0 failed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
