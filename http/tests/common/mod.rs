//! A real Passcom network for the tests: libp2p peers on 127.0.0.1 with the demo catalog,
//! each serving the HTTP API on its own port, and a small blocking HTTP client.

#![allow(dead_code)]

use passcom_net::{PeerConfig, PeerHandle};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One running peer and its API.
pub struct Peer {
    /// Its airline.
    pub airline: String,
    /// Base URL of its API, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The libp2p peer.
    pub handle: PeerHandle,
    /// Its data folder.
    pub data: PathBuf,
    /// Its operator token.
    pub admin_token: String,
}

/// A network of peers, kept alive with its runtime.
pub struct Net {
    pub rt: tokio::runtime::Runtime,
    pub peers: Vec<Peer>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Net {
    /// The peer of `airline`.
    pub fn peer(&self, airline: &str) -> &Peer {
        self.peers
            .iter()
            .find(|p| p.airline == airline)
            .expect("a peer of that airline")
    }
}

/// Polls `f` every 100 ms until it is true, at most `limit`; panics with `what` otherwise.
pub fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "gave up after {limit:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The runtime every test server runs on: two workers, timers and I/O on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Starts one peer per airline with the demo catalog, each bootstrapping to the ones before,
/// serves their APIs, and waits until every peer knows every airline's flights.
pub fn start_network(airlines: &[&str]) -> Net {
    let rt = runtime();
    let mut peers: Vec<Peer> = Vec::new();
    let mut dirs = Vec::new();
    for airline in airlines {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = PeerConfig::new(*airline, dir.path());
        cfg.demo_catalog = true;
        cfg.escrow_share = 0.1;
        for p in &peers {
            for a in p.handle.status().listen {
                cfg.bootstrap.push(a.parse().unwrap());
            }
        }
        let handle = rt
            .block_on(passcom_net::start(cfg))
            .unwrap_or_else(|e| panic!("{airline} did not start: {e}"));
        wait_until("the peer listens", Duration::from_secs(20), || {
            !handle.status().listen.is_empty()
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let data = dir.path().to_owned();
        rt.spawn(passcom_http::serve(handle.clone(), listener, data.clone()));
        let client = Client::new(&url);
        wait_until("the API answers", Duration::from_secs(20), || {
            client.get("/api/health").status == 200
        });
        let admin_token = std::fs::read_to_string(data.join("operator.token"))
            .unwrap()
            .trim()
            .to_owned();
        peers.push(Peer {
            airline: airline.to_string(),
            url,
            handle,
            data,
            admin_token,
        });
        dirs.push(dir);
    }
    for p in &peers {
        wait_until(
            &format!("{} knows every airline's flights", p.airline),
            Duration::from_secs(60),
            || {
                p.handle.read(|n| {
                    airlines
                        .iter()
                        .all(|a| n.catalog().flights().any(|f| f.airline.as_str() == *a))
                        && n.catalog().airports().count() >= 27
                })
            },
        );
    }
    Net {
        rt,
        peers,
        _dirs: dirs,
    }
}

/// Starts one peer of `airline` alone, with the demo catalog, serving its API with the
/// default settings changed by `tweak` (shorter sessions, limits, timeouts). Waits (bounded)
/// until its API answers and its own flights are loaded.
pub fn start_peer(airline: &str, tweak: impl FnOnce(&mut passcom_http::ApiConfig)) -> Net {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = PeerConfig::new(airline, dir.path());
    cfg.demo_catalog = true;
    let handle = rt
        .block_on(passcom_net::start(cfg))
        .unwrap_or_else(|e| panic!("{airline} did not start: {e}"));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let data = dir.path().to_owned();
    let mut api = passcom_http::ApiConfig::new(handle.read(|n| n.config().purchase_timeout_ms));
    tweak(&mut api);
    rt.spawn(passcom_http::serve_with(
        handle.clone(),
        listener,
        data.clone(),
        api,
    ));
    let client = Client::new(&url);
    wait_until("the API answers", Duration::from_secs(20), || {
        client.get("/api/health").status == 200
    });
    wait_until(
        "the demo flights are loaded",
        Duration::from_secs(20),
        || {
            handle.read(|n| {
                n.catalog().flights().any(|f| f.airline.as_str() == airline)
                    && n.catalog().airports().count() >= 27
            })
        },
    );
    let admin_token = std::fs::read_to_string(data.join("operator.token"))
        .unwrap()
        .trim()
        .to_owned();
    Net {
        rt,
        peers: vec![Peer {
            airline: airline.to_owned(),
            url,
            handle,
            data,
            admin_token,
        }],
        _dirs: vec![dir],
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl Resp {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts a problem document with `status`, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.body
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.body
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["type"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(
            p["detail"].as_str().is_some_and(|t| t.len() > 10),
            "a detail that says what to fix: {p}"
        );
        p
    }

    /// Asserts `status` and returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.body
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

/// A blocking client of one peer's API, with an optional bearer token.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_owned(),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut r = r.expect("the peer answers");
        let h = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_type, retry_after, set_cookie) = (
            h("content-type").unwrap_or_default(),
            h("retry-after"),
            h("set-cookie"),
        );
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        Resp {
            status,
            content_type,
            retry_after,
            set_cookie,
            body,
        }
    }

    fn auth<B>(
        &self,
        mut req: ureq::RequestBuilder<B>,
        headers: &[(&str, &str)],
    ) -> ureq::RequestBuilder<B> {
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }

    pub fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        Self::finish(
            self.auth(self.agent.get(format!("{}{path}", self.base)), headers)
                .call(),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_with(path, body, &[])
    }

    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        Self::finish(
            self.auth(self.agent.post(format!("{}{path}", self.base)), headers)
                .send_json(body),
        )
    }

    /// Sends `raw` bytes as the body with `content_type`.
    pub fn post_raw(&self, path: &str, raw: &[u8], content_type: &str) -> Resp {
        let req = self.auth(
            self.agent.post(format!("{}{path}", self.base)),
            &[("Content-Type", content_type)],
        );
        Self::finish(req.send(raw))
    }

    pub fn delete(&self, path: &str) -> Resp {
        Self::finish(
            self.auth(self.agent.delete(format!("{}{path}", self.base)), &[])
                .call(),
        )
    }

    pub fn put_empty(&self, path: &str) -> Resp {
        Self::finish(
            self.auth(self.agent.put(format!("{}{path}", self.base)), &[])
                .send_empty(),
        )
    }

    /// Creates an account and logs in; returns a client carrying the session token.
    pub fn signup(&self, name: &str) -> Client {
        let creds = serde_json::json!({"name": name, "password": "correct horse battery"});
        self.post("/api/accounts", &creds).ok(201);
        let s = self.post("/api/sessions", &creds).ok(201);
        self.with_token(s["token"].as_str().unwrap())
    }
}

/// Tomorrow's UTC date, `YYYY-MM-DD` (the demo schedule covers a week from today, and
/// tomorrow's flights are all still ahead).
pub fn tomorrow() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    passcom_http::dates::format_date(now + 86_400_000)
}
