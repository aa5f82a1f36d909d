//! The web page in headless Chromium, driven over WebDriver (chromedriver), against a real
//! three-airline network: create an account, search, pick seats, hold them, buy a
//! multi-airline itinerary, find it in "My tickets", and open the operator view. Screenshots
//! go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test is skipped with a
//! loud message, unless `CI` is set, where their absence is a failure.

mod common;

use common::{Client, start_network, wait_until};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// A WebDriver session with its chromedriver process (killed on drop).
struct Browser {
    driver: Child,
    http: Client,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&format!("/session/{}", self.session));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start(chromedriver: &Path, chromium: &Path) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = Client::new(&format!("http://127.0.0.1:{port}"));
        let ready = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !ready {
            let _ = driver.kill();
            panic!("chromedriver did not listen on port {port}");
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1900", "--lang=en-US"]
            }
        }}});
        let r = http.post("/session", &caps);
        let v = r.json();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {}", r.body))
            .to_owned();
        Browser {
            driver,
            http,
            session,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("/session/{}{path}", self.session);
        let r = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url, &body),
        };
        let v = r.json();
        assert_eq!(r.status, 200, "WebDriver {method} {path}: {}", r.body);
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url}));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Waits until the JS expression is truthy.
    fn wait_js(&self, what: &str, expr: &str) {
        wait_until(what, Duration::from_secs(30), || {
            self.js(&format!("return !!({expr});")) == json!(true)
        });
    }

    fn element(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        self.cmd("POST", &format!("/element/{e}/click"), json!({}));
    }

    fn type_in(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        );
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.cmd("GET", "/screenshot", json!({}));
        let png = base64_decode(b64.as_str().unwrap());
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }
}

/// Standard base64 (with padding), enough for WebDriver screenshots.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
            acc | (u32::from(val(*c)) << (18 - 6 * i))
        });
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn a_traveler_buys_a_multi_airline_trip_in_the_browser() {
    let chromium = find_binary(&["chromium", "chromium-browser", "google-chrome"]);
    let chromedriver = find_binary(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but chromium or chromedriver is missing: apt-get install chromium chromium-driver"
            );
        }
        eprintln!(
            "\n!!! SKIPPED the browser test: chromium or chromedriver is not installed.\n!!! apt-get install -y chromium chromium-driver\n"
        );
        return;
    };
    let net = start_network(&["rumos", "giro", "boreal"]);
    let rumos = net.peer("rumos");
    let b = Browser::start(&chromedriver, &chromium);

    b.goto(&format!("{}/", rumos.url));
    b.wait_js("the page is ready", "document.body.dataset.ready === 'yes'");
    assert_eq!(
        b.js("return document.getElementById('airline-name').textContent;"),
        json!("rumos")
    );
    assert_eq!(
        b.js("return getComputedStyle(document.getElementById('brand-bar')).backgroundColor;"),
        json!("rgb(198, 40, 40)"),
        "rumos red"
    );
    assert!(
        b.js("return document.querySelectorAll('#map .land').length;")
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#map-airports > g').length;"),
        json!(27)
    );

    // Create an account (which logs in).
    b.type_in("#login-name", "gabi");
    b.type_in("#login-password", "correct horse battery");
    b.click("#signup-btn");
    b.wait_js(
        "logged in",
        "document.getElementById('whoami').textContent.includes('gabi')",
    );

    // Search Porto Alegre → Fortaleza, which needs rumos and giro.
    b.js("document.getElementById('from').value = 'POA'; document.getElementById('to').value = 'FOR';");
    b.click("#search-btn");
    b.wait_js(
        "itineraries are listed",
        "document.querySelectorAll('#itineraries li').length > 0",
    );
    let index = b.js(
        "return [...document.querySelectorAll('#itineraries li')].findIndex(li => li.dataset.airlines.includes(','));",
    );
    let index = index.as_i64().unwrap();
    assert!(index >= 0, "a multi-airline itinerary is offered");
    b.click(&format!("#itinerary-{index}"));
    b.wait_js(
        "the route is drawn",
        "document.querySelectorAll('#map-routes path').length >= 2",
    );
    b.wait_js(
        "seat maps are shown",
        "document.querySelectorAll('#seatmap-1 .seat').length > 0",
    );

    // Pick a seat on each leg among those sellable here, hold them, and buy.
    let legs = b
        .js("return document.querySelectorAll('.cabin').length;")
        .as_u64()
        .unwrap();
    for leg in 0..legs {
        let id = b.js(&format!(
            "return document.querySelector('#seatmap-{leg} .seat.here').id;"
        ));
        b.click(&format!("#{}", id.as_str().unwrap()));
    }
    b.click("#hold-btn");
    b.wait_js(
        "the hold counts down",
        "/^\\d+:\\d\\d$/.test(document.getElementById('hold-countdown').textContent)",
    );
    b.type_in("#passenger", "Gabriela Souza");
    b.wait_js(
        "the hold shows in the seat map",
        "document.querySelectorAll('#seatmap-0 .seat.held').length > 0",
    );
    b.click("#checkout-btn");
    b.wait_js(
        "the purchase is confirmed",
        "document.getElementById('cart-msg').dataset.ticket",
    );
    let ticket = b
        .js("return document.getElementById('cart-msg').dataset.ticket;")
        .as_str()
        .unwrap()
        .to_owned();
    b.wait_js(
        "sold seats show",
        "document.querySelectorAll('#seatmap-0 .seat.sold').length > 0",
    );
    b.js("window.scrollTo(0, 0);");
    b.screenshot("web-checkout.png");

    // My tickets lists it, with legs of two airlines.
    b.click("#nav-tickets");
    b.wait_js(
        "the ticket is listed",
        &format!("document.getElementById('ticket-{ticket}')"),
    );
    let airlines = b.js(&format!(
        "return new Set([...document.querySelectorAll('#ticket-{ticket} .leg')].map(e => e.className)).size;"
    ));
    assert!(
        airlines.as_u64().unwrap() >= 2,
        "legs coloured by two airlines"
    );
    b.screenshot("web-tickets.png");

    // The operator view: peers, clock, pools and the live stream.
    b.click("#nav-operator");
    b.type_in("#admin-token", &rumos.admin_token);
    b.click("#admin-connect");
    b.wait_js(
        "peers are listed",
        "document.querySelectorAll('#op-peers tbody tr').length >= 2",
    );
    b.wait_js(
        "pools are listed",
        "document.querySelectorAll('#op-pools tbody tr').length > 0",
    );
    b.wait_js(
        "the live stream is open",
        "document.getElementById('op-events').textContent.includes('hello')",
    );
    b.screenshot("web-operator.png");

    // The purchase is real: the API agrees.
    let t = Client::new(&rumos.url).get("/api/openapi.json");
    assert_eq!(t.status, 200);
    assert!(
        rumos
            .handle
            .read(|n| n.tickets().keys().any(|k| k.as_str() == ticket))
    );
}
