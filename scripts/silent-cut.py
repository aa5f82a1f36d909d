#!/usr/bin/env python3
"""Silent network cuts between real peers: does the failure detector notice them?

Three `passcom peer` processes (rumos, giro, boreal), each in its own network namespace
(pc-rumos, pc-giro, pc-boreal), joined by veth pairs to a bridge in a fourth namespace
(pc-br) on 10.77.0.0/24. The script then:

  1. cuts giro silently: its veth is set down at the bridge side, so packets vanish and no
     TCP connection is closed (no FIN, no RST); measures how long giro takes to see rumos and
     boreal unreachable, and how long they take to see giro unreachable (each <= 5 s);
  2. right after detection, buys at giro a chosen seat held by rumos, and at rumos a chosen
     seat held by giro: each must be refused at once (<= 1 s) with 503 `holder_unreachable`,
     not after the 3 s purchase deadline;
  3. heals the link and measures how long until all three see each other reachable (<= 5 s);
     then retries both purchases with the same Idempotency-Key: they must now sell (201),
     since an "unreachable" refusal answers one attempt and is not kept as the key's result;
  4. cuts giro one way (iptables in giro's namespace drops everything giro sends on its
     veth; giro still receives): both sides must mark each other unreachable within 5 s;
     then heals and measures again. Skipped, with a line saying why, if iptables is missing.

Every HTTP request is made from inside the namespace of the peer asked (a socket created
after setns(2)), to the peer's own address, so it never crosses the cut link. Every wait is
bounded; namespaces and peers are removed at the end, also on Ctrl-C, and leftovers of an
aborted run are removed at start.

Usage: sudo scripts/silent-cut.py path/to/passcom
Prints each figure, a JSON summary line and `silent-cut: N passed, 0 failed` (exit 0), or the
failures and exit 1. Without root or network namespaces: a SKIPPED line, exit 0 (exit 1 when
the CI environment variable is set). Standard library only.
"""

import ctypes
import fcntl
import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

PEERS = {"rumos": "10.77.0.1", "giro": "10.77.0.2", "boreal": "10.77.0.3"}
NS = {a: f"pc-{a}" for a in PEERS}
BRIDGE_NS = "pc-br"
ALL_NS = [*NS.values(), BRIDGE_NS]
P2P_PORT = 7000
HTTP_PORT = 8080
SUSPECT_AFTER_MS = 3000
CUT = "giro"

DETECT_LIMIT_S = 5.0  # a silent cut must be noticed within this
ANSWER_LIMIT_S = 1.0  # a purchase waiting on an unreachable holder is answered within this
HEAL_LIMIT_S = 5.0  # after the heal, everyone reachable again within this
START_LIMIT_S = 60.0  # start: every peer active, everyone reachable, catalogs known
OBSERVE_S = 10.0  # how long a cut or heal is watched (beyond the limit, to report the figure)
POLL_S = 0.1
TOTAL_LIMIT_S = 180.0

CLONE_NEWNET = 0x40000000
T_START = time.monotonic()


def log(msg):
    print(f"[silent-cut {time.monotonic() - T_START:6.1f}s] {msg}", flush=True)


class Abort(Exception):
    """The test cannot go on (setup failed, a bound ran out)."""


def check_budget():
    if time.monotonic() - T_START > TOTAL_LIMIT_S:
        raise Abort(f"the run exceeded its {TOTAL_LIMIT_S:.0f} s budget")


# ---------------------------------------------------------------------------------------------
# Shell helpers


def sh(*cmd, check=True, timeout=20):
    """Runs a command; returns CompletedProcess. Raises Abort when `check` and it fails."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        if check:
            raise Abort(f"{' '.join(cmd)}: {e}") from e
        return subprocess.CompletedProcess(cmd, 1, "", str(e))
    if check and r.returncode != 0:
        raise Abort(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def existing_namespaces():
    r = sh("ip", "netns", "list", check=False)
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def running(pid):
    """Whether `pid` is alive (a zombie, left by an aborted run, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def clean_namespaces(quiet=False):
    """Kills whatever runs in our namespaces (left by this script) and deletes them."""
    present = existing_namespaces()
    for ns in ALL_NS:
        if ns not in present:
            continue
        pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = []
            for p in pids:
                try:
                    os.kill(p, sig)
                    alive.append(p)
                except ProcessLookupError:
                    pass
            if not alive:
                break
            end = time.monotonic() + 3
            while time.monotonic() < end and any(running(p) for p in alive):
                time.sleep(0.05)
            pids = [p for p in alive if running(p)]
        sh("ip", "netns", "del", ns, check=False)
        if not quiet:
            log(f"removed namespace {ns}")


def build_network():
    """pc-br holds bridge br0; each peer namespace has veth pcv-NAME (its address), whose
    other end pcb-NAME is a port of br0."""
    sh("ip", "netns", "add", BRIDGE_NS)
    sh("ip", "-n", BRIDGE_NS, "link", "set", "lo", "up")
    sh("ip", "-n", BRIDGE_NS, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", BRIDGE_NS, "link", "set", "br0", "up")
    for a, ip in PEERS.items():
        ns = NS[a]
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"pcv-{a}", "netns", ns, "type", "veth",
           "peer", "name", f"pcb-{a}", "netns", BRIDGE_NS)
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"pcb-{a}", "master", "br0")
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"pcb-{a}", "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", f"pcv-{a}")
        sh("ip", "-n", ns, "link", "set", f"pcv-{a}", "up")


# ---------------------------------------------------------------------------------------------
# HTTP from inside a namespace

_libc = ctypes.CDLL(None, use_errno=True)
_ns_fds = {}
_root_fd = None


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def ns_socket(ns):
    """A TCP socket that lives in namespace `ns` (the namespace is fixed at creation)."""
    fd = _ns_fds.get(ns)
    if fd is None:
        fd = _ns_fds[ns] = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    _setns(fd)
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    finally:
        _setns(_root_fd)


class NsConnection(httpclient.HTTPConnection):
    def __init__(self, ns, host, port, timeout):
        super().__init__(host, port, timeout=timeout)
        self._ns = ns

    def connect(self):
        s = ns_socket(self._ns)
        s.settimeout(self.timeout)
        try:
            s.connect((self.host, self.port))
        except BaseException:
            s.close()
            raise
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s


def http(airline, method, path, body=None, token=None, key=None, timeout=5.0):
    """One request to `airline`'s API from its own namespace.

    Returns (status, parsed JSON or text, seconds taken); status 0 on a network error."""
    headers = {"Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    conn = NsConnection(NS[airline], PEERS[airline], HTTP_PORT, timeout)
    t = time.monotonic()
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw, status = r.read(), r.status
    except (OSError, httpclient.HTTPException) as e:
        return 0, str(e), time.monotonic() - t
    finally:
        conn.close()
    took = time.monotonic() - t
    try:
        return status, (json.loads(raw) if raw else None), took
    except ValueError:
        return status, raw.decode(errors="replace"), took


# ---------------------------------------------------------------------------------------------
# Peers


class Peer:
    def __init__(self, airline, binary, root):
        self.airline = airline
        self.data = os.path.join(root, airline)
        os.makedirs(self.data, exist_ok=True)
        self.log_path = os.path.join(root, f"{airline}.log")
        ip = PEERS[airline]
        cmd = ["ip", "netns", "exec", NS[airline], binary, "peer",
               "--airline", airline, "--data", self.data,
               "--listen", f"/ip4/{ip}/tcp/{P2P_PORT}", "--http", f"{ip}:{HTTP_PORT}",
               "--demo-catalog", "--fresh-network",
               "--suspect-after-ms", str(SUSPECT_AFTER_MS)]
        for other, oip in PEERS.items():
            if other != airline:
                cmd += ["--bootstrap", f"/ip4/{oip}/tcp/{P2P_PORT}"]
        self._log = open(self.log_path, "wb")
        # A session of its own: a Ctrl-C at the terminal reaches the script, which then stops
        # the peers itself.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.op_token = None
        self.session = None

    def operator_token(self):
        if self.op_token is None:
            try:
                with open(os.path.join(self.data, "operator.token")) as f:
                    t = f.read().strip()
                self.op_token = t or None
            except OSError:
                pass
        return self.op_token

    def status(self, timeout=1.0, flights=0, airline=None):
        q = f"/admin/status?flights={flights}" + (f"&airline={airline}" if airline else "")
        code, body, _ = http(self.airline, "GET", q, token=self.operator_token(),
                             timeout=timeout)
        return body if code == 200 and isinstance(body, dict) else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    def tail(self, n=25):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def health_view(status):
    """{partner: (reachable, connected)} from a status document."""
    return {p["airline"]: (bool(p.get("reachable")), bool(p.get("connected")))
            for p in (status or {}).get("peers", [])}


def reachable(status, partner):
    return health_view(status).get(partner, (False, False))[0]


# ---------------------------------------------------------------------------------------------
# The test


class Result:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.figures = {}

    def check(self, ok, what):
        if ok:
            self.passed += 1
            log(f"ok   {what}")
        else:
            self.failed.append(what)
            log(f"FAIL {what}")


def wait_started(peers):
    """Every peer active, sees both others reachable, and knows the others' flights."""
    deadline = time.monotonic() + START_LIMIT_S
    t = time.monotonic()
    while time.monotonic() < deadline:
        for p in peers.values():
            if p.proc.poll() is not None:
                raise Abort(f"{p.airline} exited with {p.proc.returncode}:\n{p.tail()}")
        views = {a: p.status() for a, p in peers.items()}
        ready = all(
            v is not None and v.get("state") == "active"
            and all(reachable(v, b) for b in peers if b != a)
            for a, v in views.items())
        if ready:
            return time.monotonic() - t
        time.sleep(0.25)
    summary = {a: (v or {}).get("state") for a, v in views.items()}
    raise Abort(f"not started within {START_LIMIT_S:.0f} s: states {summary}, "
                f"health { {a: health_view(v) for a, v in views.items()} }")


def make_session(peer):
    name, password = "silentcut", "silent-cut-password"
    code, body, _ = http(peer.airline, "POST", "/api/accounts",
                         {"name": name, "password": password}, timeout=30)
    if code not in (201, 409):
        raise Abort(f"account at {peer.airline}: {code} {body}")
    code, body, _ = http(peer.airline, "POST", "/api/sessions",
                         {"name": name, "password": password}, timeout=30)
    if code != 201 or not isinstance(body, dict):
        raise Abort(f"login at {peer.airline}: {code} {body}")
    peer.session = body["token"]


def pick_seat(buyer, holder, deadline):
    """A flight of `holder` departing in more than two hours and a seat of it that `buyer`'s
    seat map shows with status partner, holder `holder`. Waits (bounded) for the catalog."""
    earliest = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + 7200))
    while time.monotonic() < deadline:
        st = buyer.status(timeout=2, flights=200, airline=holder)
        for pool in (st or {}).get("pools", []):
            if pool.get("departure_utc", "") <= earliest:
                continue
            code, m, _ = http(buyer.airline, "GET", f"/api/flights/{pool['flight']}/seats")
            if code != 200:
                continue
            for s in m.get("seats", []):
                if s.get("status") == "partner" and s.get("holder") == holder:
                    return pool["flight"], s["seat"]
        time.sleep(0.25)
    raise Abort(f"no seat of a {holder} flight held by {holder} in {buyer.airline}'s seat maps")


def watch(peers, want, label):
    """Polls every peer's status every POLL_S until each (observer, partner) pair in `want`
    (a dict pair -> wanted reachability) has shown its wanted value, or OBSERVE_S passes.

    Returns ({pair: seconds or None}, samples {pair: connected-at-that-moment})."""
    t0 = time.monotonic()
    seen = {pair: None for pair in want}
    connected_then = {}
    observers = sorted({o for o, _ in want})
    while time.monotonic() - t0 < OBSERVE_S and any(v is None for v in seen.values()):
        tick = time.monotonic()
        for o in observers:
            st = peers[o].status(timeout=1.0)
            at = time.monotonic() - t0
            if st is None:
                continue
            view = health_view(st)
            for (obs, partner), wanted in want.items():
                if obs != o or seen[(obs, partner)] is not None:
                    continue
                r, c = view.get(partner, (False, False))
                if r == wanted:
                    seen[(obs, partner)] = at
                    connected_then[(obs, partner)] = c
        time.sleep(max(0.0, POLL_S - (time.monotonic() - tick)))
    for (o, p), s in seen.items():
        verb = "reachable" if want[(o, p)] else "unreachable"
        fig = f"{s:.2f} s" if s is not None else f"not within {OBSERVE_S:.0f} s"
        extra = ""
        if s is not None and not want[(o, p)]:
            extra = f" (transport still connected: {connected_then[(o, p)]})"
        log(f"{label}: {o} sees {p} {verb} after {fig}{extra}")
    return seen, connected_then


def others_kept(peers, a, b):
    """Whether a and b still see each other reachable (a cut of a third must not touch them)."""
    return reachable(peers[a].status(), b) and reachable(peers[b].status(), a)


def buy(peer, flight, seat, key, timeout=8.0):
    return http(peer.airline, "POST", "/api/purchases",
                {"passenger": "Silent Cut", "legs": [{"flight": flight, "seat": seat}]},
                token=peer.session, key=key, timeout=timeout)


def fmt(x):
    return None if x is None else round(x, 3)


def run(binary, res):
    root = tempfile.mkdtemp(prefix="passcom-silent-cut-")
    peers = {}
    completed = False
    try:
        log(f"data and logs in {root}")
        build_network()
        log("network: pc-rumos 10.77.0.1, pc-giro 10.77.0.2, pc-boreal 10.77.0.3 "
            "on bridge br0 in pc-br")
        for a in PEERS:
            peers[a] = Peer(a, binary, root)
        # HTTP up and the operator tokens written.
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if all(p.operator_token() and http(a, "GET", "/api/health", timeout=1)[0] == 200
                   for a, p in peers.items()):
                break
            for p in peers.values():
                if p.proc.poll() is not None:
                    raise Abort(f"{p.airline} exited with {p.proc.returncode}:\n{p.tail()}")
            time.sleep(0.2)
        else:
            raise Abort("the peers' HTTP did not come up within 30 s")
        for a in ("giro", "rumos"):
            make_session(peers[a])
        took = wait_started(peers)
        log(f"all three active and reachable after {took:.1f} s more")
        res.figures["start_s"] = fmt(time.monotonic() - T_START)
        deadline = T_START + START_LIMIT_S + 30
        g_flight, g_seat = pick_seat(peers["giro"], "rumos", deadline)
        r_flight, r_seat = pick_seat(peers["rumos"], "giro", deadline)
        log(f"at giro: seat {g_seat} of {g_flight}, held by rumos; "
            f"at rumos: seat {r_seat} of {r_flight}, held by giro")

        # 1. The silent cut of giro, both ways, at the bridge.
        others = [a for a in PEERS if a != CUT]
        down = {(CUT, o): False for o in others} | {(o, CUT): False for o in others}
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"pcb-{CUT}", "down")
        log(f"CUT: pcb-{CUT} down at the bridge (packets dropped, connections left open)")
        seen, conn = watch(peers, down, "silent cut")
        res.figures["cut_detect_s"] = {f"{o}->{p}": fmt(s) for (o, p), s in seen.items()}
        res.figures["cut_transport_connected_at_detection"] = {
            f"{o}->{p}": c for (o, p), c in conn.items()}
        for (o, p), s in seen.items():
            res.check(s is not None and s <= DETECT_LIMIT_S,
                      f"{o} sees {p} unreachable within {DETECT_LIMIT_S:.0f} s of the silent "
                      f"cut ({'never' if s is None else f'{s:.2f} s'})")

        # 2. Purchases that wait on the cut-off side are answered at once.
        keys = {"giro": f"sc-{uuid.uuid4().hex[:16]}", "rumos": f"sc-{uuid.uuid4().hex[:16]}"}
        answers = {}
        for buyer, (flight, seat) in (("giro", (g_flight, g_seat)),
                                      ("rumos", (r_flight, r_seat))):
            code, body, took = buy(peers[buyer], flight, seat, keys[buyer])
            reason = body.get("reason") if isinstance(body, dict) else None
            answers[buyer] = {"status": code, "reason": reason, "s": fmt(took)}
            log(f"purchase at {buyer} of {seat} on {flight} during the cut: {code} "
                f"{reason} in {took:.3f} s")
            res.check(code == 503 and reason == "holder_unreachable",
                      f"purchase at {buyer} of a seat held across the cut refused with 503 "
                      f"holder_unreachable (got {code} {reason})")
            res.check(took <= ANSWER_LIMIT_S,
                      f"purchase at {buyer} answered within {ANSWER_LIMIT_S:.0f} s "
                      f"({took:.3f} s)")
        res.figures["cut_purchase"] = answers
        res.check(others_kept(peers, *others),
                  f"{others[0]} and {others[1]} still see each other reachable during the cut")

        # 3. Heal; everyone reachable again; the retried purchases now sell.
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"pcb-{CUT}", "up")
        log(f"HEAL: pcb-{CUT} up")
        up = {(a, b): True for a in PEERS for b in PEERS if a != b}
        seen, _ = watch(peers, up, "heal")
        worst = None if any(s is None for s in seen.values()) else max(seen.values())
        res.figures["heal_s"] = fmt(worst)
        res.figures["heal_pairs_s"] = {f"{o}->{p}": fmt(s) for (o, p), s in seen.items()}
        res.check(worst is not None and worst <= HEAL_LIMIT_S,
                  f"all three see each other reachable within {HEAL_LIMIT_S:.0f} s of the heal "
                  f"({'never' if worst is None else f'{worst:.2f} s'})")
        retries = {}
        for buyer, (flight, seat) in (("giro", (g_flight, g_seat)),
                                      ("rumos", (r_flight, r_seat))):
            code, body, took = buy(peers[buyer], flight, seat, keys[buyer])
            ticket = body.get("id") if isinstance(body, dict) else None
            legs = body.get("legs", []) if isinstance(body, dict) else []
            got_seat = legs[0].get("seat") if legs else None
            retries[buyer] = {"status": code, "ticket": ticket, "s": fmt(took)}
            log(f"retry at {buyer} with the same key after the heal: {code} ticket {ticket} "
                f"seat {got_seat} in {took:.3f} s"
                + ("" if code in (200, 201) else f": {body}"))
            res.check(code in (200, 201) and ticket is not None and got_seat == seat,
                      f"retry at {buyer} with the same Idempotency-Key sells seat {seat} after "
                      f"the heal (got {code})")
            if code in (200, 201):
                code2, body2, _ = buy(peers[buyer], flight, seat, keys[buyer])
                again = body2.get("id") if isinstance(body2, dict) else None
                res.check(code2 in (200, 201) and again == ticket,
                          f"a second retry at {buyer} gives the same ticket ({again})")
        res.figures["heal_purchase"] = retries

        # 4. One-way cut: giro's packets out are dropped, its packets in still arrive.
        check_budget()
        iptables = shutil.which("iptables")
        rule = ["ip", "netns", "exec", NS[CUT], iptables or "iptables", "-w", "5"]
        spec = ["OUTPUT", "-o", f"pcv-{CUT}", "-j", "DROP"]
        why = None
        if iptables is None:
            why = "iptables is not installed (apt-get install -y iptables)"
        else:
            r = sh(*rule, "-A", *spec, check=False)
            if r.returncode != 0:
                why = f"iptables in {NS[CUT]} failed: {r.stderr.strip()}"
        if why:
            log(f"SKIPPED one-way cut: {why}")
            res.figures["one_way"] = f"skipped: {why}"
        else:
            log(f"ONE-WAY CUT: {CUT} drops everything it sends on pcv-{CUT} (iptables OUTPUT)")
            seen, conn = watch(peers, down, "one-way cut")
            res.figures["one_way_detect_s"] = {f"{o}->{p}": fmt(s) for (o, p), s in seen.items()}
            res.figures["one_way_transport_connected_at_detection"] = {
                f"{o}->{p}": c for (o, p), c in conn.items()}
            for (o, p), s in seen.items():
                res.check(s is not None and s <= DETECT_LIMIT_S,
                          f"{o} sees {p} unreachable within {DETECT_LIMIT_S:.0f} s of the "
                          f"one-way cut ({'never' if s is None else f'{s:.2f} s'})")
            sh(*rule, "-D", *spec)
            log("ONE-WAY HEAL: rule removed")
            seen, _ = watch(peers, up, "one-way heal")
            worst = None if any(s is None for s in seen.values()) else max(seen.values())
            res.figures["one_way_heal_s"] = fmt(worst)
            res.check(worst is not None and worst <= HEAL_LIMIT_S,
                      f"all three see each other reachable within {HEAL_LIMIT_S:.0f} s of the "
                      f"one-way heal ({'never' if worst is None else f'{worst:.2f} s'})")
        for p in peers.values():
            res.check(p.proc.poll() is None, f"{p.airline} still running at the end")
        completed = True
    finally:
        if res.failed or not completed:
            for p in peers.values():
                log(f"last lines of {p.airline}'s log:\n{p.tail()}")
        for p in peers.values():
            try:
                p.stop()
            except Exception as e:  # keep cleaning up
                log(f"stopping {p.airline}: {e}")
        clean_namespaces(quiet=True)
        for fd in _ns_fds.values():
            os.close(fd)
        _ns_fds.clear()
        if res.failed or not completed:
            log(f"kept the data and logs in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def take_lock():
    """The namespaces have fixed names: a second run would tear down the first one's network.
    Waits (bounded) for a run in progress to end; returns the held lock file, or None."""
    path = "/run/lock/passcom-silent-cut.lock" if os.path.isdir("/run/lock") else \
        "/tmp/passcom-silent-cut.lock"
    f = open(path, "w")
    end = time.monotonic() + 60
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() > end:
                f.close()
                return None
            time.sleep(0.5)


def skip(why):
    ci = bool(os.environ.get("CI"))
    print(f"silent-cut: SKIPPED — {why}" + (" (CI is set: this counts as a failure)" if ci
                                            else ""), flush=True)
    return 1 if ci else 0


def main():
    global _root_fd
    if len(sys.argv) != 2:
        print("usage: silent-cut.py path/to/passcom", file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print(f"silent-cut: {binary} is not an executable passcom binary", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        return skip("network namespaces need root (run it with sudo)")
    if shutil.which("ip") is None:
        return skip("the ip command (iproute2) is missing")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    # Also when started in the background, where SIGINT comes in ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _root_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    lock = take_lock()
    if lock is None:
        print("silent-cut: FAILED: another silent-cut run still holds the lock after 60 s",
              flush=True)
        return 1
    res = Result()
    error = None
    try:
        clean_namespaces()  # leftovers of an aborted run
        probe = sh("ip", "netns", "add", BRIDGE_NS, check=False)
        if probe.returncode != 0:
            return skip(f"ip netns is unusable here: {probe.stderr.strip()}")
        sh("ip", "netns", "del", BRIDGE_NS, check=False)
        run(binary, res)
    except Abort as e:
        error = str(e)
    except KeyboardInterrupt as e:
        error = f"interrupted ({str(e) or 'Ctrl-C'})"
        clean_namespaces(quiet=True)
    summary = {"passed": res.passed, "failed": len(res.failed), "failures": res.failed,
               "error": error, "total_s": fmt(time.monotonic() - T_START), **res.figures}
    print(json.dumps(summary), flush=True)
    if error:
        print(f"silent-cut: FAILED: {error}", flush=True)
    for f in res.failed:
        print(f"silent-cut: FAILED: {f}", flush=True)
    failed = len(res.failed) + (1 if error else 0)
    print(f"silent-cut: {res.passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
