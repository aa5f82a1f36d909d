//! The web page in headless Chromium, driven over WebDriver (chromedriver), against a real
//! three-airline network. A Brazilian traveler (browser language pt-BR) gets the page in
//! Portuguese with times local to each airport, creates an account, searches, picks a seat on
//! each flight, keeps them, and buys a two-airline itinerary with the keyboard alone (Tab,
//! Enter, Space, arrows: no click); the seat colours pass WCAG AA contrast by their computed
//! styles; the ticket shows in "My tickets"; English is one choice away and remembered; an
//! itinerary saved to the wishlist shows there and opens again; the
//! operator view works. Screenshots in both languages go to `target/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test is skipped with a
//! loud message, unless `CI` is set, where their absence is a failure.

mod common;

use common::{Client, start_network};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const SPACE: &str = "\u{E00D}";
const RIGHT: &str = "\u{E014}";

/// WCAG 2.1 contrast ratio of two CSS colours written `rgb(r, g, b)` or `rgba(r, g, b, a)`.
fn contrast(a: &str, b: &str) -> f64 {
    let lum = |css: &str| {
        let inner = css
            .trim_start_matches("rgba(")
            .trim_start_matches("rgb(")
            .trim_end_matches(')');
        let c: Vec<f64> = inner
            .split(',')
            .take(3)
            .map(|x| x.trim().parse::<f64>().unwrap() / 255.0)
            .collect();
        let lin = |v: f64| {
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
    };
    let (x, y) = (lum(a), lum(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

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
                         "--window-size=1400,1900", "--lang=pt-BR"],
                "prefs": {"intl.accept_languages": "pt-BR,pt"}
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
    /// Waits (30 s at most) until the JS expression is truthy; on timeout, panics with what
    /// the page's status lines and focus say, so a failure explains itself.
    fn wait_js(&self, what: &str, expr: &str) {
        let start = std::time::Instant::now();
        while self.js(&format!("return !!({expr});")) != json!(true) {
            if start.elapsed() > Duration::from_secs(30) {
                let page = self.js(
                    "return {focus: document.activeElement && document.activeElement.id, \
                     messages: [...document.querySelectorAll('.msg')].map(m => m.id + ': ' + m.textContent).filter(m => !m.endsWith(': '))};",
                );
                panic!("gave up after 30 s waiting until {what}; the page: {page}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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

    /// Presses keys as a keyboard would, on whatever has the focus (WebDriver actions).
    /// Special keys are WebDriver code points: [`TAB`], [`ENTER`], [`SPACE`], [`RIGHT`].
    fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for c in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": c.to_string()}));
            actions.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    /// Presses Tab until the focused element satisfies the JS condition `cond` (on `e`, the
    /// active element); at most 400 presses.
    fn tab_until(&self, what: &str, cond: &str) {
        for _ in 0..400 {
            let hit = self.js(&format!(
                "const e = document.activeElement; return !!(e && ({cond}));"
            ));
            if hit == json!(true) {
                return;
            }
            self.keys(TAB);
        }
        panic!("Tab never reached {what}");
    }

    /// Presses Tab until the element `css` has the focus.
    fn tab_to(&self, css: &str) {
        self.tab_until(css, &format!("e.matches({css:?})"));
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
fn a_traveler_buys_a_two_airline_trip_with_the_keyboard_in_portuguese() {
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
    // The browser asks for Portuguese: the page speaks it.
    assert_eq!(
        b.js("return document.documentElement.lang;"),
        json!("pt-BR")
    );
    assert_eq!(
        b.js("return document.getElementById('search-btn').textContent;"),
        json!("Buscar")
    );
    assert_eq!(
        b.js("return document.getElementById('airline-name').textContent;"),
        json!("rumos")
    );
    assert_eq!(
        b.js("return getComputedStyle(document.getElementById('brand-bar')).backgroundColor;"),
        json!("rgb(198, 40, 40)"),
        "rumos red"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#map-airports > g').length;"),
        json!(27)
    );

    // Local times: a Manaus departure is shown in Manaus time (UTC-4), not in UTC.
    let date = common::tomorrow();
    let api = Client::new(&rumos.url)
        .get(&format!(
            "/api/routes?from=MAO&to=BEL&date={date}&max_legs=1&sort=price"
        ))
        .ok(200);
    let leg = &api["itineraries"][0]["legs"][0];
    let utc = leg["departure_utc"].as_str().unwrap();
    let at = passcom_http::dates::parse_instant(utc).unwrap();
    let manaus = passcom_http::dates::format_instant(at - 4 * 3_600_000)[11..16].to_owned();
    b.js("document.getElementById('from').value = 'MAO'; document.getElementById('to').value = 'BEL';");
    b.click("#search-btn");
    b.wait_js(
        "Manaus itineraries are listed",
        "document.querySelectorAll('#itineraries .itinerary').length > 0",
    );
    let first = b
        .js("return document.getElementById('itinerary-0').textContent;")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first.starts_with(&format!("{manaus} MAO")),
        "departure {utc} shown in Manaus time {manaus}: {first:?}"
    );
    assert!(!first.contains(&utc[11..16]), "not in UTC: {first:?}");
    let price = b
        .js("return document.querySelector('#itinerary-0 .price').textContent;")
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        price.starts_with("R$") && price.contains(','),
        "reais, Brazilian style: {price:?}"
    );

    // From here on, the keyboard alone. Create an account (which logs in).
    b.js("document.activeElement.blur(); window.scrollTo(0, 0);");
    b.tab_to("#login-name");
    b.keys("gabi");
    b.tab_to("#login-password");
    b.keys("correct horse battery");
    b.tab_to("#signup-btn");
    b.keys(ENTER);
    b.wait_js(
        "greeted by name",
        "document.getElementById('whoami').textContent === 'Olá, gabi'",
    );

    // Porto Alegre → Fortaleza needs rumos and giro. Pick the cities by typing their names.
    b.tab_to("#from");
    b.keys("Porto Alegre");
    b.tab_to("#to");
    b.keys("Fortaleza");
    assert_eq!(
        b.js(
            "return [document.getElementById('from').value, document.getElementById('to').value];"
        ),
        json!(["POA", "FOR"])
    );
    b.tab_to("#search-btn");
    b.keys(ENTER);
    b.wait_js(
        "itineraries from Porto Alegre are listed",
        "[...document.querySelectorAll('#itineraries .itinerary')].some(e => e.textContent.includes('POA'))",
    );
    b.tab_until(
        "a two-airline itinerary",
        "e.matches('.itinerary') && e.dataset.airlines.includes(',')",
    );
    let name = b.js("return document.activeElement.getAttribute('aria-label');");
    assert!(
        name.as_str()
            .unwrap()
            .starts_with("Porto Alegre para Fortaleza, parte "),
        "the itinerary's accessible name reads as a sentence: {name}"
    );
    b.keys(ENTER);
    b.wait_js(
        "the route is drawn",
        "document.querySelectorAll('#map-routes path').length >= 2",
    );
    b.wait_js(
        "the seat maps are shown",
        "document.querySelectorAll('#seatmap-1 .seat').length > 0",
    );
    assert_eq!(
        b.js("return document.activeElement.id;"),
        json!("seat-title"),
        "the focus moves on to the seats"
    );

    // Seats are buttons named for a listener; their colours pass WCAG AA.
    let label =
        b.js("return document.querySelector('#seatmap-0 .seat').getAttribute('aria-label');");
    let label = label.as_str().unwrap();
    assert!(
        label.starts_with("1A, janela, "),
        "a seat says where it is and what it is: {label:?}"
    );
    let colours = b.js(
        "return ['here', 'mine', 'sold', 'blocked'].map(k => {            const s = getComputedStyle(document.querySelector('.seat-legend .seat.' + k));            return [k, s.color, s.backgroundColor]; });",
    );
    for c in colours.as_array().unwrap() {
        let (kind, fg, bg) = (&c[0], c[1].as_str().unwrap(), c[2].as_str().unwrap());
        let ratio = contrast(fg, bg);
        assert!(
            ratio >= 4.5,
            "{kind}: {fg} on {bg} is {ratio:.2}:1, under 4.5:1"
        );
    }

    // One available seat per flight: Tab into the map, arrows to a free seat that this peer
    // sells itself (`data-status` is the API's status), Space.
    let legs = b
        .js("return document.querySelectorAll('.cabin').length;")
        .as_u64()
        .unwrap();
    assert!(legs >= 2);
    for leg in 0..legs {
        b.tab_to(&format!("#seatmap-{leg} .seat"));
        for _ in 0..200 {
            if b.js("return document.activeElement.dataset.status === 'here';") == json!(true) {
                break;
            }
            b.keys(RIGHT);
        }
        b.keys(SPACE);
        b.wait_js(
            "the seat is in the cart",
            &format!("document.querySelectorAll('#seatmap-{leg} .seat.mine').length === 1"),
        );
        assert!(
            b.js("return document.activeElement.getAttribute('aria-label');")
                .as_str()
                .unwrap()
                .ends_with(", no seu carrinho")
        );
    }
    b.tab_to("#hold-btn");
    b.keys(ENTER);
    b.wait_js(
        "the hold counts down",
        "/^\\d+:\\d\\d$/.test(document.getElementById('hold-countdown').textContent)",
    );
    b.tab_to("#passenger");
    b.keys("Gabriela Souza");
    b.tab_to("#checkout-btn");
    b.keys(ENTER);
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
    b.screenshot("web-pt-checkout.png");
    b.js("document.getElementById('seat-section').scrollIntoView();");
    b.screenshot("web-pt-seats.png");

    // My tickets lists it, with legs of two airlines, in local time.
    b.js("window.scrollTo(0, 0);");
    b.tab_to("#nav-tickets");
    b.keys(ENTER);
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
    b.screenshot("web-pt-tickets.png");

    // English is one choice away, and remembered.
    b.js("const s = document.getElementById('lang'); s.value = 'en'; s.dispatchEvent(new Event('change'));");
    assert_eq!(
        b.js("return document.getElementById('nav-tickets').textContent;"),
        json!("My tickets")
    );
    b.screenshot("web-en-tickets.png");
    b.goto(&format!("{}/", rumos.url));
    b.wait_js("the page is ready", "document.body.dataset.ready === 'yes'");
    assert_eq!(b.js("return document.documentElement.lang;"), json!("en"));
    assert_eq!(
        b.js("return document.getElementById('whoami').textContent;"),
        json!("Hello, gabi")
    );
    b.js("document.getElementById('from').value = 'POA'; document.getElementById('to').value = 'FOR';");
    b.click("#search-btn");
    b.wait_js(
        "itineraries are listed",
        "document.querySelectorAll('#itineraries .itinerary').length > 0",
    );
    b.click("#itinerary-0");
    b.wait_js(
        "seat maps are shown",
        "document.querySelectorAll('#seatmap-0 .seat').length > 0",
    );
    assert!(
        b.js("return document.querySelector('#seatmap-0 .seat').getAttribute('aria-label');")
            .as_str()
            .unwrap()
            .starts_with("1A, window, ")
    );
    b.js("window.scrollTo(0, 0);");
    b.screenshot("web-en-search.png");
    b.js("document.getElementById('seat-section').scrollIntoView();");
    b.screenshot("web-en-seats.png");

    // Saved to the wishlist, it shows under My tickets with its seats now, and opens again.
    b.click("#save-btn");
    b.wait_js(
        "the itinerary is saved",
        "document.getElementById('cart-msg').textContent === 'Saved to your wishlist.'",
    );
    b.click("#nav-tickets");
    b.wait_js(
        "the wishlist lists it",
        "document.querySelector('#wish-list li button') && document.getElementById('wish-list').textContent.includes('seats left')",
    );
    b.screenshot("web-en-wishlist.png");
    b.click("#wish-list li button");
    b.wait_js(
        "the saved trip is chosen again",
        "!document.getElementById('view-search').hidden && document.querySelectorAll('#seatmap-0 .seat').length > 0",
    );

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

    // The purchase is real: the peer has the ticket.
    assert!(
        rumos
            .handle
            .read(|n| n.tickets().keys().any(|k| k.as_str() == ticket))
    );
}
