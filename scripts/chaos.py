#!/usr/bin/env python3
"""Chaos test of the compose-launched three-peer network (standard library only).

Before the chaos, the compose path itself is checked: the image passcom:latest is under
30 MB (its size is printed), `up` starts three peers that compose reports healthy, and a
traveler buys an itinerary of two airlines through the HTTP API.

Concurrent buyers at all three peers; each peer in turn cut off the p2p network
(`docker network disconnect`) while its buyers keep buying, then reconnected; peers killed
(`docker kill`) mid-load and started again. After every heal it waits for convergence and
checks through the API: no seat sold twice, every confirmed ticket present at every peer,
sold <= capacity, identical state everywhere. Prints partitions, kills, tickets, availability
while partitioned and the convergence time after each heal. Every loop is bounded; the
network is torn down at the end, even on failure.

Usage: scripts/chaos.py [--cycles 6] [--kills 2] [--cut-seconds 8] [--keep]
Needs the image passcom:latest (scripts/docker-build).
"""

import argparse
import json
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

PEERS = {"rumos": 8081, "giro": 8082, "boreal": 8083}
IMAGE = "passcom:latest"
IMAGE_MAX_BYTES = 30_000_000  # 30 MB, as `docker image ls` counts
P2P_NETWORK = "passcom_p2p"
PROJECT = "passcom"
HTTP_TIMEOUT = 10


def log(msg):
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def http(port, method, path, body=None, token=None, key=None, timeout=HTTP_TIMEOUT):
    """One HTTP call; returns (status, parsed JSON or text). Network errors give status 0."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if key:
        req.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, OSError, TimeoutError):
        return 0, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def sh(*args, check=True, quiet=False):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stderr.strip()}")
    if not quiet and r.stderr.strip() and r.returncode != 0:
        log(r.stderr.strip())
    return r.stdout


def compose_command():
    """Docker Compose as installed: the v2 plugin (`docker compose`) or v1 (`docker-compose`);
    PASSCOM_COMPOSE (such as "docker-compose") chooses one."""
    import os
    import shutil
    chosen = os.environ.get("PASSCOM_COMPOSE")
    if chosen:
        return chosen.split()
    try:
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if r.returncode == 0:
            return ["docker", "compose"]
    except (OSError, subprocess.TimeoutExpired):
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise SystemExit("chaos: neither `docker compose` nor `docker-compose` is installed")


COMPOSE = None


def compose(*args, check=True):
    global COMPOSE
    if COMPOSE is None:
        COMPOSE = compose_command()
        log(f"compose: {' '.join(COMPOSE)}")
    return sh(*COMPOSE, "-p", PROJECT, *args, check=check)


def wait_until(what, cond, timeout):
    """Polls `cond` every 0.25 s for at most `timeout` seconds; returns elapsed seconds."""
    start = time.time()
    while time.time() - start < timeout:
        if cond():
            return time.time() - start
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def operator_token(name):
    """The operator token the peer wrote into its volume at first start (docker cp works on a
    scratch container, which has no shell to cat it)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        sh("docker", "cp", f"passcom-{name}:/data/operator.token", f"{d}/token")
        with open(f"{d}/token") as f:
            return f.read().strip()


class Buyers:
    """Buyer threads per peer; each remembers every ticket confirmed to it."""

    def __init__(self, tokens, flights, per_peer=2):
        self.tokens = tokens
        self.flights = flights
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.confirmed = {}  # ticket id -> (peer, [(flight, seat)])
        self.attempts = {p: 0 for p in PEERS}
        self.successes = {p: 0 for p in PEERS}
        self.sold_out = {p: 0 for p in PEERS}
        self.window = None  # (peer, attempts, successes, sold_out) while a partition lasts
        self.threads = [
            threading.Thread(target=self.run, args=(p, i), daemon=True)
            for p in PEERS
            for i in range(per_peer)
        ]

    def start(self):
        for t in self.threads:
            t.start()

    def halt(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def run(self, peer, i):
        rng = random.Random(f"{peer}-{i}")
        port = PEERS[peer]
        token = self.tokens[peer]
        while not self.stop.is_set():
            flight = rng.choice(self.flights)
            key = str(uuid.UUID(int=rng.getrandbits(128)))
            body = {"passenger": f"Chaos {peer} {i}", "legs": [{"flight": flight}]}
            outcome = None
            for _ in range(4):  # the same key on retry: never two tickets
                status, resp = http(port, "POST", "/api/purchases", body, token=token, key=key)
                if status in (200, 201):
                    outcome = ("ok", resp)
                    break
                if status in (409, 410, 404, 422):
                    outcome = ("refused", resp)
                    break
                time.sleep(0.3)  # 503, a restarting peer, a timeout: retry with the same key
            with self.lock:
                self.attempts[peer] += 1
                if outcome and outcome[0] == "ok":
                    t = outcome[1]
                    self.successes[peer] += 1
                    self.confirmed[t["id"]] = (peer, [(l["flight"], l["seat"]) for l in t["legs"]])
                elif outcome and "sold out" in json.dumps(outcome[1]).lower():
                    self.sold_out[peer] += 1
            time.sleep(0.12)

    def snapshot(self, peer):
        with self.lock:
            return self.attempts[peer], self.successes[peer], self.sold_out[peer]


def statuses(admin):
    out = {}
    for p, port in PEERS.items():
        status, s = http(port, "GET", "/admin/status", token=admin[p])
        if status != 200:
            return None
        out[p] = s
    return out


def detect_cut(admin, peer, deadline):
    """Polls until the silently cut `peer` sees every partner unreachable and every partner
    sees it unreachable (the failure detector: `docker network disconnect` drops packets without
    closing connections), or until `deadline`. Returns when each side noticed (None: not yet)."""
    seen = {"cut_peer": None, "partners": None}
    while time.time() < deadline and None in seen.values():
        s = {}
        for p, port in PEERS.items():
            status, st = http(port, "GET", "/admin/status", token=admin[p], timeout=1)
            if status == 200:
                s[p] = {h["airline"]: h["reachable"] for h in st.get("peers", [])}
        now = time.time()
        if seen["cut_peer"] is None and peer in s and not any(
                s[peer].get(o, False) for o in PEERS if o != peer):
            seen["cut_peer"] = now
        others = [o for o in PEERS if o != peer]
        if seen["partners"] is None and all(o in s and not s[o].get(peer, False) for o in others):
            seen["partners"] = now
        time.sleep(0.2)
    return seen


def converged(admin, quiet=False):
    """Every peer has applied the same events and no hand-over is in flight. With `quiet`
    (buyers stopped) no purchase may be pending either; while buyers run, some always are: a
    retry of a key refused `timeout` or `holder_unreachable` is a new attempt (only final answers
    are kept for a key), so pending purchases say nothing about replication."""
    s = statuses(admin)
    if not s:
        return False
    clocks = [json.dumps(v["clock"], sort_keys=True) for v in s.values()]
    pending = sum(len(v["handovers"]) + (v["pending_purchases"] if quiet else 0) for v in s.values())
    return len(set(clocks)) == 1 and pending == 0


def all_started(admin):
    """Every peer active (recovered from its partners, and heard alone by each of them for the
    twin check: about seven seconds after a start) and holding the flights of all three
    airlines, which each peer's demo catalog adds once it is active."""
    s = statuses(admin)
    if not s or any(v.get("state") != "active" for v in s.values()):
        return False
    return all(len({k for k, n in v["clock"].items() if n}) == len(PEERS) for v in s.values())


def check_state(admin, buyers, flights):
    """The invariants, read through every peer's API."""
    tickets = {}
    for p, port in PEERS.items():
        status, ts = http(port, "GET", "/admin/tickets", token=admin[p], timeout=60)
        assert status == 200, f"{p}: /admin/tickets answered {status}"
        tickets[p] = {t["id"]: t for t in ts}
    # Identical tickets everywhere.
    ref = tickets["rumos"]
    for p in PEERS:
        assert tickets[p] == ref, f"tickets differ between rumos and {p}"
    # No seat sold twice among live tickets.
    seats = {}
    for t in ref.values():
        if t["status"] != "live":
            continue
        for leg in t["legs"]:
            k = (leg["flight"], leg["seat"])
            assert k not in seats, f"seat {k} sold twice: {seats[k]} and {t['id']}"
            seats[k] = t["id"]
    # Every ticket confirmed to a buyer is present everywhere.
    with buyers.lock:
        confirmed = dict(buyers.confirmed)
    missing = [tid for tid in confirmed if tid not in ref]
    assert not missing, f"{len(missing)} confirmed tickets missing, e.g. {missing[:3]}"
    # Seat maps: identical, and sold <= capacity, matching the tickets.
    for f in flights:
        maps = {}
        for p, port in PEERS.items():
            status, m = http(port, "GET", f"/api/flights/{f}/seats")
            assert status == 200, f"{p}: seat map of {f} answered {status}"
            maps[p] = [(s["seat"], s["status"] == "sold") for s in m["seats"]]
            sold = sum(1 for _, x in maps[p] if x)
            assert sold <= m["rows"] * len(m["letters"]), f"{f} oversold at {p}"
            live = sum(1 for k in seats if k[0] == f)
            assert sold == live, f"{f} at {p}: {sold} seats sold but {live} live tickets"
        assert maps["rumos"] == maps["giro"] == maps["boreal"], f"seat maps of {f} differ"
    return len(ref), len(seats)


def image_size():
    """The size of IMAGE in bytes, as `docker image ls` shows it; fails at 30 MB or more."""
    size = int(sh("docker", "image", "inspect", IMAGE, "--format", "{{.Size}}").strip())
    shown = sh("docker", "image", "ls", IMAGE, "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").strip()
    log(f"image {shown} ({size} bytes)")
    assert size < IMAGE_MAX_BYTES, f"the image is {size} bytes, not under {IMAGE_MAX_BYTES}"
    return size


def healthy(name):
    """Whether compose's healthcheck (`passcom peer --check-health`) reports the peer healthy."""
    r = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", f"passcom-{name}"],
                       capture_output=True, text=True, timeout=30)
    return r.returncode == 0 and r.stdout.strip() == "healthy"


def buy_two_airlines():
    """A traveler at rumos buys tomorrow's first itinerary that combines two airlines, through
    the HTTP API; the ticket must hold legs of two airlines. Returns the ticket."""
    port = PEERS["rumos"]
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    cred = {"name": "compose-traveler", "password": "correct horse battery staple"}
    http(port, "POST", "/api/accounts", cred)
    status, s = http(port, "POST", "/api/sessions", cred)
    assert status in (200, 201), f"login at rumos: {status} {s}"
    token = s["token"]
    status, airports = http(port, "GET", "/api/airports")
    assert status == 200, f"/api/airports answered {status}"
    codes = sorted(a["iata"] for a in airports)
    rng = random.Random(16)
    itinerary = None
    for _ in range(300):
        a, b = rng.sample(codes, 2)
        status, r = http(port, "GET", f"/api/routes?from={a}&to={b}&date={day}&limit=50")
        if status != 200:
            continue
        itinerary = next((it for it in r["itineraries"]
                          if len(set(it["airlines"])) >= 2 and it["seats_available"] > 0), None)
        if itinerary:
            break
    assert itinerary, "no itinerary of two airlines with seats tomorrow"
    legs = [{"flight": leg["flight"]} for leg in itinerary["legs"]]
    body = {"passenger": "Compose Traveler", "legs": legs}
    key = str(uuid.uuid4())
    ticket = None
    for _ in range(20):  # the same key on retry: never two tickets
        status, resp = http(port, "POST", "/api/purchases", body, token=token, key=key, timeout=30)
        if status in (200, 201):
            ticket = resp
            break
        # 503: a partner not counted reachable yet, or the deadline: retry with the same key.
        assert status in (0, 503), f"the two-airline purchase was refused: {status} {resp}"
        time.sleep(1)
    assert ticket, f"the two-airline purchase got no ticket: {status} {resp}"
    airlines = {leg.get("airline") for leg in ticket["legs"]}
    assert len(airlines) >= 2, f"the ticket's legs are not of two airlines: {ticket}"
    log(f"bought {ticket['id']} at rumos: " + ", ".join(
        f"{leg['flight']} seat {leg['seat']} ({leg['airline']})" for leg in ticket["legs"]))
    return ticket


def pick_flights():
    """Direct flights of each airline for tomorrow, found through route search."""
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    wanted = {"rumos": [], "giro": [], "boreal": []}
    status, airports = http(8081, "GET", "/api/airports")
    codes = [a["iata"] for a in airports]
    rng = random.Random(7)
    for _ in range(600):
        if all(len(v) >= 5 for v in wanted.values()):
            break
        a, b = rng.sample(codes, 2)
        status, r = http(8081, "GET", f"/api/routes?from={a}&to={b}&date={day}&max_legs=1")
        if status != 200:
            continue
        for it in r["itineraries"]:
            leg = it["legs"][0]
            if len(wanted[leg["airline"]]) < 5 and leg["flight"] not in wanted[leg["airline"]]:
                wanted[leg["airline"]].append(leg["flight"])
    flights = [f for v in wanted.values() for f in v]
    assert len(flights) >= 3, f"found too few flights: {wanted}"
    return flights


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--cut-seconds", type=float, default=8)
    ap.add_argument("--keep", action="store_true", help="leave the network running")
    args = ap.parse_args()
    started = time.time()
    report = {"partitions": 0, "kills": 0, "convergence_s": [], "availability_partitioned": [],
              "detection_s": {"cut_peer": [], "partners": []}}
    compose("down", "-v", check=False)
    try:
        report["image_bytes"] = image_size()
        compose("up", "-d", "--no-build")
        for p, port in PEERS.items():
            wait_until(f"{p} healthy", lambda p=p: healthy(p), 120)
            wait_until(f"{p} answers", lambda port=port: http(port, "GET", "/api/health")[0] == 200, 30)
        log("three peers healthy")
        admin = {p: operator_token(p) for p in PEERS}
        # The roster service wrote the three peer ids at first start: every peer's roster is
        # closed and names the three airlines.
        for p, port in PEERS.items():
            status, st = http(port, "GET", "/admin/status?flights=0", token=admin[p])
            assert status == 200, f"status of {p}: {status} {st}"
            assert st["roster_closed"] is True, f"{p}: roster open: {st['roster']}"
            assert sorted(st["roster"]) == sorted(PEERS), f"{p}: roster {st['roster']}"
        log("closed roster of three airlines at every peer")
        wait_until("every peer active with three airlines' catalogs", lambda: all_started(admin), 120)
        wait_until("the catalog to converge", lambda: converged(admin), 120)
        report["two_airline_ticket"] = buy_two_airlines()["id"]
        flights = pick_flights()
        log(f"hammering flights {flights}")
        tokens = {}
        for p, port in PEERS.items():
            cred = {"name": f"chaos-{p}", "password": "correct horse battery staple"}
            http(port, "POST", "/api/accounts", cred)
            status, s = http(port, "POST", "/api/sessions", cred)
            assert status in (200, 201), f"login at {p}: {status} {s}"
            tokens[p] = s["token"]
        buyers = Buyers(tokens, flights)
        buyers.start()
        time.sleep(3)
        order = list(PEERS) * ((args.cycles + 2) // 3)
        for n, peer in enumerate(order[: args.cycles]):
            a0, s0, x0 = buyers.snapshot(peer)
            log(f"partition {n + 1}: cutting {peer} off the p2p network")
            sh("docker", "network", "disconnect", P2P_NETWORK, f"passcom-{peer}")
            report["partitions"] += 1
            cut_at = time.time()
            noticed = detect_cut(admin, peer, cut_at + args.cut_seconds)
            for side, when in noticed.items():
                report["detection_s"][side].append(None if when is None else round(when - cut_at, 2))
            log(f"cut noticed by {peer} after {report['detection_s']['cut_peer'][-1]} s, "
                f"by its partners after {report['detection_s']['partners'][-1]} s")
            time.sleep(max(0.0, cut_at + args.cut_seconds - time.time()))
            a1, s1, x1 = buyers.snapshot(peer)
            tried = max(1, (a1 - a0) - (x1 - x0))
            report["availability_partitioned"].append((s1 - s0) / tried)
            sh("docker", "network", "connect", "--alias", peer, P2P_NETWORK, f"passcom-{peer}")
            t = time.time()
            wait_until("convergence after heal", lambda: converged(admin), 90)
            report["convergence_s"].append(round(time.time() - t, 2))
            log(f"healed {peer}: converged in {report['convergence_s'][-1]} s, "
                f"sold {s1 - s0} of {a1 - a0} tries while cut off")
            if n < args.kills:
                victim = list(PEERS)[(n + 1) % 3]
                log(f"kill {n + 1}: docker kill passcom-{victim} under load")
                sh("docker", "kill", f"passcom-{victim}")
                report["kills"] += 1
                time.sleep(2)
                sh("docker", "start", f"passcom-{victim}")
                wait_until(f"{victim} back", lambda v=victim: http(PEERS[v], "GET", "/api/health")[0] == 200, 60)
                t = time.time()
                wait_until("convergence after restart", lambda: converged(admin), 90)
                report["convergence_s"].append(round(time.time() - t, 2))
        buyers.halt()
        wait_until("final convergence", lambda: converged(admin, quiet=True), 90)
        total, live = check_state(admin, buyers, flights)
        avail = report["availability_partitioned"]
        report.update({
            "tickets": total,
            "live_seats": live,
            "confirmed_to_buyers": len(buyers.confirmed),
            "double_sales": 0,
            "lost_tickets": 0,
            "availability_partitioned_mean": round(sum(avail) / max(1, len(avail)), 3),
            "detection_s_max": max((d for side in report["detection_s"].values() for d in side
                                    if d is not None), default=None),
            "cuts_not_noticed": sum(d is None for side in report["detection_s"].values() for d in side),
            "seconds": round(time.time() - started, 1),
        })
        print(json.dumps(report, indent=2))
        log(f"{report['partitions']} partitions, {report['kills']} kills, {total} tickets, "
            f"0 double sales, 0 lost tickets")
        return 0
    except AssertionError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        if not args.keep:
            compose("down", "-v", check=False)


if __name__ == "__main__":
    sys.exit(main())
