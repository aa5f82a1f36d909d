//! The `passcom` binary end to end: starts a real peer (`passcom peer` on 127.0.0.1, a free
//! port, a temporary data folder, the demo catalog) and drives it with the client commands a
//! traveler and an operator use: signup with the password piped on stdin, routes, buy,
//! tickets, cancel, status; failures under `--json`; completions; a graceful stop on SIGTERM;
//! an operator's hangup and dial between two real peers.
//! Every wait has a deadline.

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_passcom");
const PASSWORD: &str = "piped-secret-4711";

/// A running `passcom peer`, killed on drop if the test did not stop it.
struct Peer {
    child: Option<Child>,
    url: String,
    data: PathBuf,
    /// Every stderr line so far (for failure messages and the stop check).
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    /// Starts rumos with the demo catalog in `data`, on an HTTP port the peer picks
    /// (`--http 127.0.0.1:0`, announced on stderr), and waits (bounded) until its API answers
    /// and its demo flights are loaded.
    fn start(data: &Path, home: &Path) -> Peer {
        Peer::start_as("rumos", data, home, &[])
    }

    /// Starts `airline` like [`Peer::start`], with `extra` arguments (`--bootstrap ADDR`).
    fn start_as(airline: &str, data: &Path, home: &Path, extra: &[&str]) -> Peer {
        let mut child = Command::new(BIN)
            .args(["peer", "--airline", airline, "--data"])
            .arg(data)
            .args([
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--http",
                "127.0.0.1:0",
                "--demo-catalog",
                "--fresh-network",
            ])
            .args(extra)
            .env("HOME", home)
            .env("RUST_LOG", "warn,tower_http=info")
            .env_remove("PASSCOM_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("passcom peer starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let pipe = child.stderr.take().unwrap();
        let lines = stderr.clone();
        // Reads stderr until the peer exits (so the pipe never fills), and hands over the
        // line that announces the HTTP address.
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some((_, rest)) = line.split_once("HTTP on http://") {
                    let _ = tx.send(rest.trim().to_owned());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the peer did not announce its HTTP address within 60 s; stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let mut peer = Peer {
            child: Some(child),
            url: format!("http://{addr}"),
            data: data.to_owned(),
            stderr,
        };
        peer.wait_until(
            "the API answers /api/health",
            Duration::from_secs(30),
            |p| {
                passcom(&["peer", "--check-health", "--http", &addr], None, p.home())
                    .status
                    .success()
            },
        );
        peer.wait_until(
            "the demo flights are loaded",
            Duration::from_secs(60),
            |p| {
                let out = p.run(&["status", "--json", "--flights", "1"], None);
                out.status.success()
                    && json(&out.stdout)["pools"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty())
            },
        );
        peer
    }

    fn home(&self) -> &Path {
        self.data.parent().unwrap()
    }

    /// Runs a client command against this peer (its `--url`, the test's session file, the
    /// operator token from its data folder for operator commands).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let session = self.home().join("session");
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--url".into(), self.url.clone()]);
        let operator = matches!(args[0], "status" | "partition" | "heal" | "dial" | "hangup");
        if operator {
            all.extend(["--data".into(), self.data.display().to_string()]);
        } else if matches!(
            args[0],
            "signup" | "login" | "logout" | "buy" | "tickets" | "cancel"
        ) {
            all.extend(["--session".into(), session.display().to_string()]);
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        passcom(&refs, stdin, self.home())
    }

    /// Like [`Peer::run`], and the command must succeed.
    fn ok(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "passcom {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Polls `cond` every 200 ms until it holds, for at most `limit`.
    fn wait_until(&mut self, what: &str, limit: Duration, mut cond: impl FnMut(&Peer) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if cond(self) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "the peer exited ({status}) while waiting for {what}; stderr:\n{}",
                    self.stderr.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; peer stderr:\n{}",
                self.stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `passcom ARGS` with `stdin` piped in (or none), HOME set to `home`, for at most 60 s.
fn passcom(args: &[&str], stdin: Option<&str>, home: &Path) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("PASSCOM_URL")
        .env_remove("PASSCOM_PASSWORD")
        .env_remove("PASSCOM_ADMIN_TOKEN")
        .env_remove("PASSCOM_SESSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("passcom runs");
    {
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).unwrap();
        }
        // Dropping the pipe closes stdin.
    }
    // Both pipes are read while the command runs, so a long answer never blocks it.
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "passcom {} did not finish within 60 s; stderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
                .chars()
                .take(2000)
                .collect::<String>()
        )
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_traveler_and_an_operator_drive_a_real_peer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rumos");
    let mut peer = Peer::start(&data, dir.path());

    // Not logged in yet: under --json the failure is a problem object on stderr.
    let out = peer.run(&["tickets", "--json"], None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let problem = json(&out.stderr);
    assert_eq!(problem["reason"], "not_logged_in", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("passcom login")
    );

    // Signup with the password piped on stdin: it is never echoed.
    let out = peer.ok(&["signup", "--name", "ana"], Some(&format!("{PASSWORD}\n")));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("created account ana"), "{stdout}");
    assert!(
        !stdout.contains(PASSWORD),
        "the password was echoed: {stdout}"
    );
    assert!(
        !stderr.contains(PASSWORD),
        "the password was echoed: {stderr}"
    );
    // Login with it piped too.
    let out = peer.ok(&["login", "--name", "ana"], Some(&format!("{PASSWORD}\n")));
    assert!(text(&out.stdout).contains("logged in as ana"));
    assert!(!text(&out.stdout).contains(PASSWORD));
    // A wrong password is refused with the API's problem, as JSON under --json.
    let out = peer.run(
        &["login", "--name", "ana", "--json"],
        Some("wrong-password\n"),
    );
    assert!(!out.status.success());
    let problem = json(&out.stderr);
    assert_eq!(problem["status"], 401, "{problem}");
    assert!(problem["reason"].is_string() && problem["detail"].is_string());
    peer.ok(&["login", "--name", "ana"], Some(&format!("{PASSWORD}\n")));

    // Status (operator, token read from --data): the upcoming flights; pick one departing on
    // a later day, so the route search of that date surely lists it.
    let status = json(
        &peer
            .ok(&["status", "--json", "--flights", "400"], None)
            .stdout,
    );
    assert_eq!(status["airline"], "rumos");
    let pools = status["pools"].as_array().unwrap();
    let today = pools[0]["departure_utc"].as_str().unwrap()[..10].to_owned();
    let pool = pools
        .iter()
        .find(|p| p["departure_utc"].as_str().unwrap()[..10] > *today)
        .unwrap_or(&pools[pools.len() - 1]);
    let (from, to) = (
        pool["origin"].as_str().unwrap(),
        pool["destination"].as_str().unwrap(),
    );
    let date = &pool["departure_utc"].as_str().unwrap()[..10];
    let readable = text(&peer.ok(&["status"], None).stdout);
    assert!(readable.contains("airline   rumos"), "{readable}");

    // Routes: as a table and as JSON, every --sort order.
    let table = text(
        &peer
            .ok(
                &["routes", from, to, "--date", date, "--sort", "duration"],
                None,
            )
            .stdout,
    );
    assert!(table.contains(&format!("{from} → {to}")), "{table}");
    for sort in ["price", "duration", "legs"] {
        let v = json(
            &peer
                .ok(
                    &["routes", from, to, "--date", date, "--sort", sort, "--json"],
                    None,
                )
                .stdout,
        );
        assert_eq!(v["sort"], sort);
    }
    let routes = json(
        &peer
            .ok(&["routes", from, to, "--date", date, "--json"], None)
            .stdout,
    );
    let itinerary = &routes["itineraries"][0];
    let legs: Vec<String> = itinerary["legs"]
        .as_array()
        .unwrap_or_else(|| panic!("no itinerary {from} → {to} on {date}: {routes}"))
        .iter()
        .map(|l| l["flight"].as_str().unwrap().to_owned())
        .collect();
    assert!(!legs.is_empty());
    // The table gives times in the airport's local time, with the offset.
    let local = itinerary["legs"][0]["departure_local"].as_str().unwrap();
    let shown = format!("{} {}", local[..16].replacen('T', " ", 1), &local[16..]);
    assert!(shown.ends_with(":00") && shown.contains(" -0"), "{shown}");
    let table = text(&peer.ok(&["routes", from, to, "--date", date], None).stdout);
    assert!(table.contains(&shown), "{shown} in {table}");
    // An order that is not offered is refused by the parser.
    let out = peer.run(&["routes", from, to, "--sort", "cheapest"], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("possible values"));

    // Buy, with an idempotency key: a retry gives the same ticket.
    let mut buy = vec![
        "buy",
        "--passenger",
        "Ana Lima",
        "--key",
        "cli-test-1",
        "--json",
    ];
    for l in &legs {
        buy.extend(["--leg", l.as_str()]);
    }
    let ticket = json(&peer.ok(&buy, None).stdout);
    let id = ticket["id"].as_str().unwrap().to_owned();
    assert_eq!(ticket["passenger"], "Ana Lima");
    assert_eq!(ticket["legs"].as_array().unwrap().len(), legs.len());
    let again = json(&peer.ok(&buy, None).stdout);
    assert_eq!(again["id"], ticket["id"], "the same key bought twice");

    // Tickets: the one bought, as JSON and as a table.
    let list = json(&peer.ok(&["tickets", "--json"], None).stdout);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"].as_str(), Some(id.as_str()));
    assert!(text(&peer.ok(&["tickets"], None).stdout).contains(&id));

    // Cancel it; then cancelling an unknown ticket is the API's 404 problem on stderr.
    let out = peer.ok(&["cancel", &id], None);
    assert!(text(&out.stdout).contains(&format!("cancelled ticket {id}")));
    let list = json(&peer.ok(&["tickets", "--json"], None).stdout);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != id.as_str() || t["status"] == "cancelled"),
        "{list}"
    );
    let out = peer.run(&["cancel", "rumos-no-such-ticket", "--json"], None);
    assert!(!out.status.success());
    let problem = json(&out.stderr);
    assert_eq!(problem["status"], 404, "{problem}");
    assert!(problem["reason"].is_string() && problem["detail"].is_string());
    // The same failure without --json is one line.
    let out = peer.run(&["cancel", "rumos-no-such-ticket"], None);
    let line = text(&out.stderr);
    assert!(line.starts_with("passcom: 404"), "{line}");
    assert_eq!(line.trim_end().lines().count(), 1, "{line}");

    // A peer that is not there: reason `unreachable`.
    let out = passcom(
        &[
            "routes",
            "SSA",
            "MAO",
            "--url",
            "http://127.0.0.1:9",
            "--json",
        ],
        None,
        dir.path(),
    );
    assert!(!out.status.success());
    assert_eq!(json(&out.stderr)["reason"], "unreachable");

    // The request log (TraceLayer) went to the peer's stderr.
    peer.wait_until("a request log line", Duration::from_secs(10), |p| {
        p.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("finished processing request"))
    });

    // SIGTERM: the peer drains its API, stops its node and exits 0, within a deadline.
    #[cfg(unix)]
    {
        let mut child = peer.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the peer did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "the peer exited with {status}");
        // The stderr reader may still be on its last lines.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && !peer
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("rumos stopped"))
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let logs = peer.stderr.lock().unwrap().join("\n");
        assert!(logs.contains("passcom: rumos stopped"), "{logs}");
    }
}

/// Whether `from`'s `passcom status --json` counts `airline` as reachable.
fn reachable(from: &Peer, airline: &str) -> bool {
    let out = from.run(&["status", "--json", "--flights", "0"], None);
    out.status.success()
        && json(&out.stdout)["peers"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["airline"] == airline && p["reachable"] == true)
        })
}

/// Two real peers; giro knows rumos as its bootstrap peer. The operator of rumos hangs up on
/// giro: giro is unreachable in `passcom status` and stays so although it keeps re-dialling;
/// `passcom dial` with giro's address makes it reachable again. Bad input gets one line and
/// a failure exit.
#[test]
fn an_operator_hangs_up_on_a_peer_and_dials_it_back() {
    let home = tempfile::tempdir().unwrap();
    let mut rumos = Peer::start(&home.path().join("rumos"), home.path());
    let listen = |p: &Peer| {
        let st = json(&p.ok(&["status", "--json", "--flights", "0"], None).stdout);
        st["listen"][0]
            .as_str()
            .expect("a listen address")
            .to_owned()
    };
    let rumos_addr = listen(&rumos);
    let giro = Peer::start_as(
        "giro",
        &home.path().join("giro"),
        home.path(),
        &["--bootstrap", &rumos_addr],
    );
    let giro_addr = listen(&giro);
    rumos.wait_until("giro reachable", Duration::from_secs(30), |p| {
        reachable(p, "giro")
    });
    let status = text(&rumos.ok(&["status", "--flights", "0"], None).stdout);
    assert!(status.contains("connected to giro"), "{status}");

    let out = text(&rumos.ok(&["hangup", "giro"], None).stdout);
    assert!(out.contains("hung up on giro"), "{out}");
    rumos.wait_until("giro unreachable", Duration::from_secs(30), |p| {
        !reachable(p, "giro")
    });
    // giro re-dials its bootstrap peer every 0.25 to 10 s; rumos refuses it each time.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!reachable(&rumos, "giro"));
    let status = text(&rumos.ok(&["status", "--flights", "0"], None).stdout);
    assert!(status.contains("connected to nobody"), "{status}");
    assert!(status.contains("hung up   giro ("), "{status}");

    // Bad input: one line on stderr, a failure exit, nothing changed.
    for (args, needle) in [
        (&["dial", "not-an-address"][..], "422"),
        (&["dial", &rumos_addr][..], "own address"),
        (&["hangup", "nobody"][..], "404"),
        (&["hangup", "Not A Name"][..], "422"),
    ] {
        let out = rumos.run(args, None);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "passcom {args:?} must fail");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(needle), "passcom {args:?}: {err}");
    }
    let out = rumos.run(&["hangup", "nobody", "--json"], None);
    assert_eq!(json(&out.stderr)["status"], 404);

    let out = text(&rumos.ok(&["dial", &giro_addr], None).stdout);
    assert!(out.contains("connected to giro"), "{out}");
    rumos.wait_until("giro reachable again", Duration::from_secs(30), |p| {
        reachable(p, "giro")
    });
    let status = text(&rumos.ok(&["status", "--flights", "0"], None).stdout);
    assert!(status.contains("connected to giro"), "{status}");
    drop(giro);
}

#[test]
fn completions_are_printed_for_every_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = passcom(&["completions", shell], None, dir.path());
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains("passcom"), "{shell}");
        assert!(script.contains("signup"), "{shell}: no subcommand in it");
    }
    let out = passcom(&["completions", "tcsh"], None, dir.path());
    assert_eq!(out.status.code(), Some(2));
}

/// A closed roster from `passcom peer-id`: a roster that does not list the peer, or lists it
/// under another key, or names a bad id, stops it at start with one line; a roster that lists
/// it is closed and shows each airline's key as the peer id the roster named.
#[test]
fn a_closed_roster_is_written_from_peer_ids_and_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (rumos_data, giro_data) = (dir.path().join("rumos"), dir.path().join("giro"));
    let id_of = |data: &Path| {
        let out = passcom(&["peer-id", "--data", data.to_str().unwrap()], None, &home);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    let rumos = id_of(&rumos_data);
    let giro = id_of(&giro_data);
    assert!(rumos.starts_with("12D3KooW"), "{rumos}");
    assert_ne!(rumos, giro);
    // The identity is kept: asking again gives the same id.
    assert_eq!(id_of(&rumos_data), rumos);

    let start_fails = |roster: &str, needle: &str| {
        let file = dir.path().join("bad-roster.txt");
        std::fs::write(&file, roster).unwrap();
        let out = passcom(
            &[
                "peer",
                "--airline",
                "rumos",
                "--data",
                rumos_data.to_str().unwrap(),
                "--roster",
                file.to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ],
            None,
            &home,
        );
        assert!(!out.status.success(), "started with roster {roster:?}");
        let err = text(&out.stderr);
        assert!(err.contains(needle), "{needle:?} not in {err}");
    };
    start_fails(&format!("giro {giro}\n"), "rumos is not listed");
    start_fails(&format!("rumos {giro}\n"), "rumos is listed as");
    start_fails("rumos not-a-peer-id\n", "bad-roster.txt:1");
    start_fails(&format!("rumos {rumos}\nrumos {rumos}\n"), "listed twice");

    let file = dir.path().join("roster.txt");
    std::fs::write(
        &file,
        format!("# the network's airlines\nrumos {rumos}\ngiro  {giro}   # partner\n"),
    )
    .unwrap();
    let peer = Peer::start_as(
        "rumos",
        &rumos_data,
        &home,
        &["--roster", file.to_str().unwrap()],
    );
    let status = json(
        &peer
            .ok(&["status", "--json", "--flights", "0"], None)
            .stdout,
    );
    assert_eq!(status["roster_closed"], true, "{status}");
    assert_eq!(status["roster"]["rumos"], rumos.as_str(), "{status}");
    assert_eq!(status["roster"]["giro"], giro.as_str(), "{status}");
    let readable = text(&peer.ok(&["status", "--flights", "0"], None).stdout);
    assert!(
        readable.contains("roster    closed: giro, rumos"),
        "{readable}"
    );
    drop(peer);

    // `passcom roster` writes the same from the data folders (creating boreal's identity),
    // keeps a roster that says the same, and refuses one that names other keys.
    let boreal_data = dir.path().join("boreal");
    let written = dir.path().join("compose").join("roster.txt");
    let pairs = [
        format!("rumos={}", rumos_data.display()),
        format!("giro={}", giro_data.display()),
        format!("boreal={}", boreal_data.display()),
    ];
    let roster = |home: &Path| {
        let mut args = vec!["roster", "--out", written.to_str().unwrap()];
        args.extend(pairs.iter().map(String::as_str));
        passcom(&args, None, home)
    };
    let out = roster(&home);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let boreal = id_of(&boreal_data);
    let file = std::fs::read_to_string(&written).unwrap();
    for line in [
        format!("rumos {rumos}"),
        format!("giro {giro}"),
        format!("boreal {boreal}"),
    ] {
        assert!(file.lines().any(|l| l == line), "{line:?} not in {file}");
    }
    assert!(
        roster(&home).status.success(),
        "a second run changed the roster"
    );
    assert_eq!(std::fs::read_to_string(&written).unwrap(), file);
    std::fs::write(&written, file.replace(&giro, &rumos)).unwrap();
    let out = roster(&home);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already names other keys"),
        "{}",
        text(&out.stderr)
    );
}
