#!/usr/bin/env python3
"""Chaos test of the compose-launched three-peer network (standard library only).

Before the chaos, the compose path itself is checked: the image passcom:latest is under
30 MB (its size is printed), `up` starts three peers that compose reports healthy, each holds
the closed roster of the three airlines, and a traveler buys an itinerary of two airlines
through the HTTP API.

Then buyers at all three peers keep buying (at each peer two name no seat, one picks a free
seat from the seat map and sends `seat_fallback: nearest`) while the network is broken:

- partition/heal cycles (default 21), rotating three kinds of cut and the peers they hit,
  each lasting --cut-seconds and always removed in a `finally`:
    isolate  one peer cut off from both others (`docker network disconnect`);
    link     the link between two peers cut both ways while both still reach the third
             (iptables in each one's network namespace drops the other's p2p address, entered
             from the host with nsenter: the image is FROM scratch); gossip goes round;
    one-way  packets from one peer dropped at another only (iptables INPUT at the receiver);
- peers killed (`docker kill`) under load and started again (default 5);
- once, a peer stopped, its database `passcom.redb` deleted from its volume (identity.key,
  operator.token and accounts.redb kept) and started again: it must show `recovering`, then
  `active`, and hold again every ticket it had sold;
- flights replenished: when a hammered flight has under 20 % of its seats left, its airline's
  operator adds a new one in its place (POST /admin/flights at its own peer, with the usual
  20 % escrow to each partner) and each peer's buyers switch to it as soon as that peer
  shows it.

Each cycle prints its kind, the peers, the tries and sales at the cut-off peer while cut (its
availability, and the any-seat availability: purchases naming no seat, confirmed / attempted,
sold-out refusals excluded), how long each side took to notice the cut, and how long after the
heal every peer held every event that existed at the heal (convergence). Before every cut all
peers must reach each other again. At the end, with buyers stopped: full convergence, then the
invariants through the API: no seat sold twice, every confirmed ticket at every peer,
sold <= capacity, identical state everywhere. Then the totals as JSON. Every wait is bounded;
the network is torn down at the end, even on failure.

Usage: scripts/chaos.py [--cycles 21] [--kills 5] [--restores 1] [--cut-seconds 5] [--keep]
Needs the image passcom:latest (scripts/docker-build), root (docker, nsenter) and iptables.
"""

import argparse
import collections
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

PEERS = {"rumos": 8081, "giro": 8082, "boreal": 8083}
NAMES = list(PEERS)
IMAGE = "passcom:latest"
IMAGE_MAX_BYTES = 30_000_000  # 30 MB, as `docker image ls` counts
P2P_NETWORK = "passcom_p2p"
PROJECT = "passcom"
HTTP_TIMEOUT = 10
KINDS = ("isolate", "link", "one-way")
DEFAULT_CYCLES, DEFAULT_KILLS = 21, 5
ESCROW_SHARE = 0.2  # as the peers' default --escrow-share
REPLENISH_BELOW = 0.2  # a hammered flight gets a new one in its place under 20 % seats left
# Refusals that are right answers, not a lack of availability: excluded from availability.
CORRECT_REFUSALS = {"sold_out", "seat_taken"}


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


def refusal(status, resp):
    """The reason of a refusal (`sold_out`, `holder_unreachable`, …), or what stood for one."""
    if status == 0:
        return "no_answer"
    if isinstance(resp, dict) and resp.get("reason"):
        return resp["reason"]
    return f"http_{status}"


class Buyers:
    """Buyer threads per peer: `any_seat` of them name no seat, `chosen` pick a free seat from
    the seat map. Every attempt is recorded (peer, start, end, names no seat, outcome) and every
    ticket confirmed to a buyer is remembered."""

    def __init__(self, creds, stock, any_seat=2, chosen=1, pace=0.15):
        self.creds = creds
        self.tokens = {}
        self.stock = stock
        self.pace = pace
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.confirmed = {}  # ticket id -> (peer, [(flight, seat)])
        self.records = []  # (peer, started, ended, any_seat, outcome)
        for p in PEERS:
            self.login(p)
        self.threads = [
            threading.Thread(target=self.run, args=(p, i, i < any_seat), daemon=True)
            for p in PEERS
            for i in range(any_seat + chosen)
        ]

    def login(self, peer):
        status, s = http(PEERS[peer], "POST", "/api/sessions", self.creds[peer])
        if status in (200, 201):
            self.tokens[peer] = s["token"]
        return status

    def start(self):
        for t in self.threads:
            t.start()

    def halt(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def buy(self, peer, body, key):
        """One purchase, retried with the same key (never two tickets) while the answer is
        transient; returns (outcome, ticket or None)."""
        outcome = "no_answer"
        for _ in range(4):
            status, resp = http(PEERS[peer], "POST", "/api/purchases", body,
                                token=self.tokens.get(peer), key=key)
            if status in (200, 201):
                return "ok", resp
            if status == 401:  # a session lost: log in again, same key
                self.login(peer)
                outcome = "unauthorized"
                continue
            outcome = refusal(status, resp)
            if status in (404, 409, 410, 422):
                return outcome, None
            time.sleep(0.3)  # 503, a restarting peer, a timeout: retry with the same key
        return outcome, None

    def run(self, peer, i, any_seat):
        rng = random.Random(f"{peer}-{i}")
        while not self.stop.is_set():
            try:
                self.once(peer, i, any_seat, rng)
            except Exception as e:  # an answer of an unexpected shape: say so, buy on
                log(f"buyer {peer} {i}: {e!r}")
            self.stop.wait(self.pace)

    def once(self, peer, i, any_seat, rng):
        """One purchase attempt, recorded (none when a seat-choosing buyer finds no free seat)."""
        port = PEERS[peer]
        flight = rng.choice(self.stock.for_peer(peer))
        leg = {"flight": flight}
        body = {"passenger": f"Chaos {peer} {i}", "legs": [leg]}
        if not any_seat:
            status, m = http(port, "GET", f"/api/flights/{flight}/seats", timeout=5)
            free = [s["seat"] for s in m["seats"] if s["status"] in ("here", "partner")] \
                if status == 200 and isinstance(m, dict) else []
            if not free:
                return
            leg["seat"] = rng.choice(free)
            body["seat_fallback"] = "nearest"
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        started = time.time()
        outcome, ticket = self.buy(peer, body, key)
        with self.lock:
            self.records.append((peer, started, time.time(), any_seat, outcome))
            if ticket:
                self.confirmed[ticket["id"]] = (
                    peer, [(l["flight"], l["seat"]) for l in ticket["legs"]])

    def window(self, peer, t0, t1):
        """What the buyers at `peer` tried from t0 to t1 (by the start of the attempt)."""
        out = {"all": collections.Counter(), "any": collections.Counter(), "seconds": []}
        with self.lock:
            records = list(self.records)
        for p, started, ended, any_seat, outcome in records:
            if p == peer and t0 <= started < t1:
                out["all"][outcome] += 1
                out["seconds"].append(ended - started)
                if any_seat:
                    out["any"][outcome] += 1
        return out


def tally(counter):
    """(tries, sold, correct refusals) of a window's outcomes; tries exclude correct refusals."""
    total = sum(counter.values())
    right = sum(n for k, n in counter.items() if k in CORRECT_REFUSALS)
    return total - right, counter.get("ok", 0), right


class Stock:
    """The flights each peer's buyers hammer, per airline, replenished by each airline's
    operator as they sell out. A thread checks every second, at each airline's own peer, the
    flights its buyers are sent to: each with under REPLENISH_BELOW of its seats unsold gets a
    new flight in its place (one POST /admin/flights per airline and check), and each peer's
    buyers switch to the new flight once that peer serves it (a peer cut off from the airline
    switches after the heal)."""

    def __init__(self, admin, initial, airports):
        self.admin = admin
        self.airports = airports
        self.lock = threading.Lock()
        self.current = {a: list(initial[a]) for a in NAMES}  # the operator's newest flights
        self.lists = {p: {a: list(initial[a]) for a in NAMES} for p in NAMES}
        self.pending = {a: {} for a in NAMES}  # slot -> new flight not yet at every peer
        self.everything = {f for a in NAMES for f in initial[a]}
        self.numbers = {a: 9000 for a in NAMES}
        self.added = 0
        self.refused = {a: None for a in NAMES}  # the last refusal of a POST, logged once
        self.rng = random.Random(11)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def for_peer(self, peer):
        with self.lock:
            return [f for a in NAMES for f in self.lists[peer][a]]

    def all_flights(self):
        with self.lock:
            return sorted(self.everything)

    def start(self):
        self.thread.start()

    def halt(self):
        self.stop.set()
        self.thread.join(timeout=30)

    def run(self):
        while not self.stop.wait(1.0):
            for a in NAMES:
                try:
                    self.tend(a)
                except Exception as e:  # a peer down or cut off: try again next second
                    log(f"replenish {a}: {e!r}")

    def tend(self, a):
        for slot, new in list(self.pending[a].items()):
            for p in NAMES:
                if self.lists[p][a][slot] != new and \
                        http(PEERS[p], "GET", f"/api/flights/{new}/seats", timeout=3)[0] == 200:
                    with self.lock:
                        self.lists[p][a][slot] = new
            if all(self.lists[p][a][slot] == new for p in NAMES):
                del self.pending[a][slot]
        low = []
        for slot, f in enumerate(self.current[a]):
            if slot in self.pending[a]:
                continue
            status, m = http(PEERS[a], "GET", f"/api/flights/{f}/seats", timeout=3)
            if status != 200:
                return  # its peer restarting: later
            left = sum(1 for s in m["seats"] if s["status"] != "sold")
            if left < REPLENISH_BELOW * len(m["seats"]):
                low.append((slot, f, left))
        if not low:
            return
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
        partners = [p for p in NAMES if p != a]
        rows, letters = 30, "ABCDEF"
        escrow = int(rows * len(letters) * ESCROW_SHARE)  # as the demo catalog's flights
        flights = []
        for slot, _, _ in low:
            self.numbers[a] += 1
            origin, destination = self.rng.sample(self.airports, 2)
            hour, minute = 9 + self.numbers[a] % 12, 5 * (self.numbers[a] % 12)
            flights.append({
                "id": f"{a[:2].upper()}{self.numbers[a]}-{day}",
                "origin": origin, "destination": destination,
                "departure": f"{day}T{hour:02d}:{minute:02d}",
                "arrival": f"{day}T{hour + 2:02d}:{minute:02d}",
                "rows": rows, "letters": letters, "fare_cents": 40000 + 500 * slot,
                "escrow": [{"airline": p, "seats": escrow} for p in partners],
            })
        status, r = http(PEERS[a], "POST", "/admin/flights", {"flights": flights},
                         token=self.admin[a], timeout=10)
        if status != 200:
            if self.refused[a] != refusal(status, r):
                self.refused[a] = refusal(status, r)
                log(f"replenish {a}: POST /admin/flights answered {status} {self.refused[a]}; "
                    f"trying again every second")
            return
        self.refused[a] = None
        with self.lock:
            self.everything.update(r["ids"])
            for (slot, _, _), new in zip(low, r["ids"]):
                self.lists[a][a][slot] = new
        for (slot, _, _), new in zip(low, r["ids"]):
            self.current[a][slot] = new
            self.pending[a][slot] = new
        self.added += len(r["ids"])
        log(f"replenish: {a}'s operator adds " + ", ".join(
            f"{new} for {old} ({left} seats left)" for (_, old, left), new in zip(low, r["ids"])))


def inspect(peer, fmt):
    return sh("docker", "inspect", "-f", fmt, f"passcom-{peer}").strip()


def p2p_ip(peer):
    ip = inspect(peer, '{{(index .NetworkSettings.Networks "%s").IPAddress}}' % P2P_NETWORK)
    assert ip, f"{peer} has no address on {P2P_NETWORK}"
    return ip


def choose_iptables():
    """The iptables to run in the containers' namespaces: the host's default (nft or legacy),
    else whichever variant lists a fresh namespace's INPUT chain. Returns (command, version)."""
    pid = inspect("rumos", "{{.State.Pid}}")
    assert shutil.which("nsenter"), "nsenter is not installed (util-linux)"
    tried = []
    for cmd in ("iptables", "iptables-nft", "iptables-legacy"):
        if not shutil.which(cmd):
            continue
        r = subprocess.run(["nsenter", "-t", pid, "-n", cmd, "-w", "5", "-S", "INPUT"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            version = subprocess.run([cmd, "--version"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
            return cmd, version
        tried.append(f"{cmd}: {r.stderr.strip()}")
    raise AssertionError(f"no iptables works in the containers' namespaces: {tried or 'none installed'}")


class Cuts:
    """The cuts in force, so that `heal` (also from a `finally`) removes every one."""

    def __init__(self, iptables):
        self.iptables = iptables
        self.rules = []  # (peer whose namespace drops, source address)
        self.isolated = []

    def isolate(self, peer):
        sh("docker", "network", "disconnect", P2P_NETWORK, f"passcom-{peer}")
        self.isolated.append(peer)

    def drop(self, at, source):
        """Packets from `source` dropped on arrival at `at` (its namespace's INPUT chain)."""
        ip = p2p_ip(source)
        self.rule(at, "-A", ip)
        self.rules.append((at, ip))

    def rule(self, at, op, ip):
        pid = inspect(at, "{{.State.Pid}}")
        sh("nsenter", "-t", pid, "-n", self.iptables, "-w", "5", op, "INPUT", "-s", ip,
           "-j", "DROP")

    def heal(self):
        errors = []
        while self.rules:
            at, ip = self.rules.pop()
            try:
                self.rule(at, "-D", ip)
            except Exception as e:
                errors.append(f"{at}: {e}")
        while self.isolated:
            peer = self.isolated.pop()
            try:
                sh("docker", "network", "connect", "--alias", peer, P2P_NETWORK, f"passcom-{peer}")
            except Exception as e:
                errors.append(f"{peer}: {e}")
        if errors:
            raise RuntimeError(f"healing failed: {errors}")


def statuses(admin, timeout=HTTP_TIMEOUT):
    out = {}
    for p, port in PEERS.items():
        status, s = http(port, "GET", "/admin/status?flights=0", token=admin[p], timeout=timeout)
        if status != 200:
            return None
        out[p] = s
    return out


def reach(admin):
    """Who counts whom reachable now: {observer: {partner: bool}} for the peers that answer."""
    s = {}
    for p, port in PEERS.items():
        status, st = http(port, "GET", "/admin/status?flights=0", token=admin[p], timeout=1)
        if status == 200:
            s[p] = {h["airline"]: h["reachable"] for h in st.get("peers", [])}
    return s


def all_reachable(admin):
    s = reach(admin)
    return len(s) == len(PEERS) and all(s[p].get(o, False) for p in PEERS for o in PEERS if o != p)


def detect_cut(admin, cut_side, partner_side, deadline):
    """Polls until every (observer, partner) pair of `cut_side` and of `partner_side` counts
    the partner unreachable (the failure detector: a disconnect or a DROP rule closes no
    connection), or until `deadline`. Returns when each side noticed (None: not by then)."""
    seen = {"cut_peer": None, "partners": None}
    while time.time() < deadline and None in seen.values():
        s = reach(admin)
        now = time.time()
        for side, pairs in (("cut_peer", cut_side), ("partners", partner_side)):
            if seen[side] is None and all(o in s and not s[o].get(p, False) for o, p in pairs):
                seen[side] = now
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


def newest_clock(admin):
    """The element-wise maximum of every peer's vector clock: every event that exists now."""
    s = statuses(admin)
    assert s, "a peer does not answer /admin/status"
    top = {}
    for v in s.values():
        for k, n in v["clock"].items():
            top[k] = max(top.get(k, 0), n)
    return top


def caught_up(admin, target):
    """Every peer holds every event of `target` (a clock): under load the clocks are never
    equal at one instant, so convergence after a heal is measured this way."""
    s = statuses(admin, timeout=3)
    return bool(s) and all(v["clock"].get(k, 0) >= n for v in s.values() for k, n in target.items())


def all_started(admin):
    """Every peer active (recovered from its partners, and heard alone by each of them for the
    twin check: about seven seconds after a start) and holding the flights of all three
    airlines, which each peer's demo catalog adds once it is active."""
    s = statuses(admin)
    if not s or any(v.get("state") != "active" for v in s.values()):
        return False
    return all(len({k for k, n in v["clock"].items() if n}) == len(PEERS) for v in s.values())


def cycle_plan(n):
    """Kind and peers of cycle n: kinds rotate, and each kind moves round the three peers.
    Returns (kind, measured peer, other peer, description, cut-side pairs, partner-side pairs);
    a pair (observer, partner) must come to count the partner unreachable."""
    kind = KINDS[n % 3]
    r = n // 3
    a = NAMES[(n + r) % 3]
    b = NAMES[(n + r + 1 + r % 2) % 3]
    c = next(p for p in NAMES if p not in (a, b))
    if kind == "isolate":
        others = [b, c]
        return (kind, a, None, f"{a} cut off from {b} and {c}",
                [(a, o) for o in others], [(o, a) for o in others])
    if kind == "link":
        return (kind, a, b, f"link {a}-{b} cut both ways, both reach {c}", [(a, b)], [(b, a)])
    return (kind, a, b, f"{b}'s packets dropped at {a} only", [(a, b)], [(b, a)])


def run_cycle(n, total, admin, buyers, cuts, cut_seconds, report):
    kind, peer, other, desc, cut_side, partner_side = cycle_plan(n)
    wait_until("every peer to reach every partner before the cut", lambda: all_reachable(admin), 60)
    try:
        if kind == "isolate":
            cuts.isolate(peer)
        elif kind == "link":
            cuts.drop(peer, other)
            cuts.drop(other, peer)
        else:
            cuts.drop(peer, other)
        cut_at = time.time()
        report["partitions"] += 1
        noticed = detect_cut(admin, cut_side, partner_side, cut_at + cut_seconds)
        time.sleep(max(0.0, cut_at + cut_seconds - time.time()))
    finally:
        healed_at = time.time()
        cuts.heal()
    target = newest_clock(admin)
    t = time.time()
    wait_until("convergence after heal", lambda: caught_up(admin, target), 90)
    conv = round(time.time() - t, 2)
    w = buyers.window(peer, cut_at, healed_at)
    tries, sold, right = tally(w["all"])
    any_tries, any_sold, any_right = tally(w["any"])
    detection = {side: None if when is None else round(when - cut_at, 2)
                 for side, when in noticed.items()}
    cycle = {
        "cycle": n + 1, "kind": kind, "cut_peer": peer,
        "peers": [peer, other] if other else [peer] + [o for o in NAMES if o != peer],
        "what": desc, "cut_s": round(healed_at - cut_at, 2),
        "tries": tries, "sold": sold, "correct_refusals": right,
        "availability": round(sold / tries, 3) if tries else None,
        "any_seat_tries": any_tries, "any_seat_sold": any_sold,
        "any_seat_availability": round(any_sold / any_tries, 3) if any_tries else None,
        "refusals": {k: v for k, v in sorted(w["all"].items()) if k != "ok"},
        "purchase_s_p50": p50(w["seconds"]),
        "purchase_s_max": round(max(w["seconds"]), 2) if w["seconds"] else None,
        "detection_s": detection, "convergence_s": conv,
    }
    fmt = lambda x: "-" if x is None else f"{x:.2f}"
    log(f"cycle {n + 1}/{total} {kind}: {desc}: at {peer} {tries} tries, {sold} sold "
        f"(availability {fmt(cycle['availability'])}), any seat {any_sold}/{any_tries} "
        f"({fmt(cycle['any_seat_availability'])}); noticed by {peer} after "
        f"{detection['cut_peer']} s, by the other side after {detection['partners']} s; "
        f"converged {conv} s after the heal; purchases took {cycle['purchase_s_p50']} s "
        f"(p50), at most {cycle['purchase_s_max']} s; refusals {cycle['refusals']}")
    return cycle


def kill(admin, victim, n, total):
    """docker kill under load, start again; returns the seconds from the start until every peer
    is active again, and the convergence seconds after that."""
    log(f"kill {n}/{total}: docker kill passcom-{victim} under load")
    sh("docker", "kill", f"passcom-{victim}")
    time.sleep(2)
    t = time.time()
    sh("docker", "start", f"passcom-{victim}")
    wait_until(f"{victim} back", lambda: http(PEERS[victim], "GET", "/api/health")[0] == 200, 60)
    wait_until("every peer active after the restart", lambda: all_started(admin), 120)
    active = round(time.time() - t, 2)
    target = newest_clock(admin)
    t = time.time()
    wait_until("convergence after restart", lambda: caught_up(admin, target), 90)
    conv = round(time.time() - t, 2)
    log(f"kill {n}/{total}: {victim} active again {active} s after its start, converged {conv} s later")
    return {"victim": victim, "active_s": active, "convergence_s": conv}


def restore_from_deleted_volume(admin, buyers, victim):
    """Stops `victim`, deletes its database from its volume (keeping identity.key,
    operator.token and accounts.redb), starts it: it must go `recovering` then `active` and
    hold again every ticket it sold that its partners or its buyers knew of, with no seat sold
    twice and its own history no shorter than its partners know it."""
    volume = f"{PROJECT}_{victim}-data"
    mount = sh("docker", "volume", "inspect", "-f", "{{.Mountpoint}}", volume).strip()
    assert os.path.isdir(mount), f"volume {volume} is not at {mount!r} on this host"
    log(f"restore: docker stop passcom-{victim}, then delete passcom.redb in {mount}")
    sh("docker", "stop", f"passcom-{victim}")
    partners = [p for p in NAMES if p != victim]
    expected, seq = {}, 0
    for p in partners:
        status, ts = http(PEERS[p], "GET", "/admin/tickets", token=admin[p], timeout=60)
        assert status == 200, f"{p}: /admin/tickets answered {status}"
        expected.update({t["id"]: t for t in ts if t["seller"] == victim})
        status, st = http(PEERS[p], "GET", "/admin/status?flights=0", token=admin[p])
        assert status == 200, f"{p}: /admin/status answered {status}"
        seq = max(seq, st["clock"].get(victim, 0))
    with buyers.lock:
        told = {tid for tid, (peer, _) in buyers.confirmed.items() if peer == victim}
    files = sorted(os.listdir(mount))
    assert "passcom.redb" in files and "identity.key" in files, f"{mount} holds {files}"
    os.remove(os.path.join(mount, "passcom.redb"))
    kept = sorted(os.listdir(mount))
    log(f"restore: {victim}'s volume held {files}; kept {kept}")
    t = time.time()
    sh("docker", "start", f"passcom-{victim}")
    states = []
    deadline = t + 120
    while time.time() < deadline:
        status, st = http(PEERS[victim], "GET", "/admin/status?flights=0", token=admin[victim],
                          timeout=2)
        if status == 200 and (not states or states[-1] != st["state"]):
            states.append(st["state"])
            log(f"restore: {victim} is {st['state']} after {time.time() - t:.1f} s")
        if states and states[-1] == "active":
            break
        time.sleep(0.2)
    active = round(time.time() - t, 2)
    assert states and states[-1] == "active", f"{victim} never became active: states {states}"
    assert "recovering" in states, f"{victim} was never seen recovering: states {states}"
    wait_until("every peer active after the restore", lambda: all_started(admin), 120)
    target = newest_clock(admin)
    wait_until("convergence after the restore", lambda: caught_up(admin, target), 90)
    status, ts = http(PEERS[victim], "GET", "/admin/tickets", token=admin[victim], timeout=60)
    assert status == 200, f"{victim}: /admin/tickets answered {status}"
    got = {t["id"]: t for t in ts}
    lost = sorted((set(expected) | told) - set(got))
    assert not lost, f"{victim} lost {len(lost)} of its tickets with its database, e.g. {lost[:3]}"
    changed = [tid for tid, t in expected.items() if got[tid] != t]
    assert not changed, f"{victim} holds {len(changed)} of its tickets changed, e.g. {changed[:3]}"
    seats = {}
    for t in got.values():
        if t["status"] == "live":
            for leg in t["legs"]:
                k = (leg["flight"], leg["seat"])
                assert k not in seats, f"after the restore, seat {k} sold twice: {seats[k]}, {t['id']}"
                seats[k] = t["id"]
    status, st = http(PEERS[victim], "GET", "/admin/status?flights=0", token=admin[victim])
    own = st["clock"].get(victim, 0)
    assert own >= seq, f"{victim} recovered its history up to {own}, its partners knew {seq}"
    log(f"restore: {victim} recovered: recovering then active in {active} s, "
        f"{len(set(expected) | told)} tickets it had sold all back, own history {own} >= {seq}")
    return {"peer": victim, "states": states, "active_s": active, "deleted": "passcom.redb",
            "kept": kept, "tickets_sold_before": len(set(expected) | told),
            "tickets_back": len(set(expected) | told), "own_events_before": seq,
            "own_events_after": own}


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
    """Direct flights of each airline for tomorrow, found through route search; returns them by
    airline, and the airports' codes."""
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
    assert all(wanted.values()), f"found too few flights: {wanted}"
    return wanted, codes


def spread(events, cycles):
    """After which cycle (0-based) each of `events` things happens, spread over the run."""
    return [min(cycles - 1, max(0, (i + 1) * cycles // (events + 1) - 1)) for i in range(events)]


def p50(xs):
    return round(statistics.median(xs), 2) if xs else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=DEFAULT_CYCLES, help="partition/heal cycles")
    ap.add_argument("--kills", type=int, default=DEFAULT_KILLS)
    ap.add_argument("--restores", type=int, default=1, help="restarts from a deleted database")
    ap.add_argument("--cut-seconds", type=float, default=5)
    ap.add_argument("--pace", type=float, default=0.15, help="seconds each buyer waits between purchases")
    ap.add_argument("--keep", action="store_true", help="leave the network running")
    args = ap.parse_args()
    assert args.cycles >= 1, "--cycles must be at least 1"
    started = time.time()
    report = {"partitions": 0, "kills": 0, "volume_restores": 0, "convergence_s": [],
              "availability_partitioned": [], "detection_s": {"cut_peer": [], "partners": []},
              "cycles": [], "restarts": [], "restores": []}
    compose("down", "-v", check=False)
    cuts = stock = buyers = None
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
        flights, airports = pick_flights()
        log(f"hammering flights {flights}")
        iptables, version = choose_iptables()
        report["iptables"] = version
        log(f"cuts inside the containers' namespaces with {iptables} ({version})")
        cuts = Cuts(iptables)
        creds = {}
        for p, port in PEERS.items():
            creds[p] = {"name": f"chaos-{p}", "password": "correct horse battery staple"}
            http(port, "POST", "/api/accounts", creds[p])
        stock = Stock(admin, flights, airports)
        buyers = Buyers(creds, stock, pace=args.pace)
        assert set(buyers.tokens) == set(PEERS), f"buyers could not log in: {sorted(buyers.tokens)}"
        stock.start()
        buyers.start()
        time.sleep(3)
        kills = collections.Counter(spread(args.kills, args.cycles))
        restores = collections.Counter(min(args.cycles - 1, (i + 1) * args.cycles // (args.restores + 1))
                                       for i in range(args.restores))
        n_kill = 0
        for n in range(args.cycles):
            cycle = run_cycle(n, args.cycles, admin, buyers, cuts, args.cut_seconds, report)
            report["cycles"].append(cycle)
            report["convergence_s"].append(cycle["convergence_s"])
            report["availability_partitioned"].append(cycle["availability"])
            for side, d in cycle["detection_s"].items():
                report["detection_s"][side].append(d)
            for _ in range(kills[n]):
                victim = NAMES[(n_kill + 2) % 3]
                n_kill += 1
                r = kill(admin, victim, n_kill, args.kills)
                report["kills"] += 1
                report["restarts"].append(r)
                report["convergence_s"].append(r["convergence_s"])
            for _ in range(restores[n]):
                victim = NAMES[(report["volume_restores"] + 1) % 3]
                report["restores"].append(restore_from_deleted_volume(admin, buyers, victim))
                report["volume_restores"] += 1
        buyers.halt()
        stock.halt()
        wait_until("final convergence", lambda: converged(admin, quiet=True), 90)
        all_flights = stock.all_flights()
        total, live = check_state(admin, buyers, all_flights)
        cycles = report["cycles"]
        avail = [a for a in report["availability_partitioned"] if a is not None]
        any_tries = sum(c["any_seat_tries"] for c in cycles)
        any_sold = sum(c["any_seat_sold"] for c in cycles)
        by_kind = {}
        for k in KINDS:
            cs = [c for c in cycles if c["kind"] == k]
            t, s = sum(c["any_seat_tries"] for c in cs), sum(c["any_seat_sold"] for c in cs)
            ta, sa = sum(c["tries"] for c in cs), sum(c["sold"] for c in cs)
            by_kind[k] = {"cycles": len(cs), "availability": round(sa / ta, 3) if ta else None,
                          "any_seat_availability": round(s / t, 3) if t else None,
                          "any_seat_tries": t}
        conv = report["convergence_s"]
        with buyers.lock:
            attempts = len(buyers.records)
        report.update({
            "tickets": total,
            "live_seats": live,
            "confirmed_to_buyers": len(buyers.confirmed),
            "purchase_attempts": attempts,
            "double_sales": 0,
            "lost_tickets": 0,
            "availability_partitioned_mean": round(sum(avail) / max(1, len(avail)), 3),
            "any_seat_availability_cut_peer": round(any_sold / any_tries, 3) if any_tries else None,
            "any_seat_tries_cut_peer": any_tries,
            "by_kind": by_kind,
            "cut_kinds": dict(collections.Counter(c["kind"] for c in cycles)),
            "replenished_flights": stock.added,
            "flights_hammered": len(all_flights),
            "convergence_s_p50": p50(conv),
            "convergence_s_max": max(conv) if conv else None,
            "detection_s_max": max((d for side in report["detection_s"].values() for d in side
                                    if d is not None), default=None),
            "cuts_not_noticed": sum(d is None for side in report["detection_s"].values() for d in side),
            "seconds": round(time.time() - started, 1),
        })
        print(json.dumps(report, indent=2))
        assert report["partitions"] == args.cycles, report["partitions"]
        assert report["kills"] == args.kills, report["kills"]
        assert report["volume_restores"] == args.restores, report["volume_restores"]
        if (args.cycles, args.kills) == (DEFAULT_CYCLES, DEFAULT_KILLS):
            assert report["partitions"] >= 20 and report["kills"] >= 5, "too little chaos"
        idle = [c["cycle"] for c in cycles if c["tries"] == 0]
        assert not idle, f"cycles with no purchase tried at the cut-off peer: {idle}"
        log(f"{report['partitions']} partitions ({', '.join(f'{k} {v}' for k, v in report['cut_kinds'].items())}), "
            f"{report['kills']} kills, {report['volume_restores']} restores from a deleted database, "
            f"{stock.added} flights added, {total} tickets, 0 double sales, 0 lost tickets; "
            f"any-seat availability at the cut-off peer {report['any_seat_availability_cut_peer']} "
            f"({any_sold}/{any_tries}); convergence p50 {report['convergence_s_p50']} s, "
            f"max {report['convergence_s_max']} s; {report['seconds']} s")
        return 0
    except (AssertionError, RuntimeError) as e:  # RuntimeError: a docker or nsenter command failed
        log(f"FAILED: {e}")
        return 1
    finally:
        if cuts:
            try:
                cuts.heal()
            except Exception as e:
                log(f"removing the cuts: {e}")
        if buyers:
            buyers.stop.set()
        if stock:
            stock.stop.set()
        if not args.keep:
            compose("down", "-v", check=False)


if __name__ == "__main__":
    sys.exit(main())
