//! The HTTP side of the client: one blocking call to the peer's API, read into the API's own
//! DTOs, and a refusal turned into a [`Failure`].

use super::Conn;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// A failed client command: what `passcom` prints on stderr before it exits non-zero.
///
/// Without `--json` it is one line ([`std::fmt::Display`]); with `--json` it is one JSON
/// object ([`Failure::to_json`]): the API's problem document when the peer refused, or a
/// problem of the same shape made here (peer unreachable, not logged in, bad argument).
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status of the peer's answer; `None` when the failure happened before an answer.
    pub status: Option<u16>,
    /// A stable machine-readable word, such as `holder_unreachable` or `unreachable`.
    pub reason: String,
    /// What went wrong and what to do.
    pub detail: String,
    /// The other fields of the JSON form: the API's problem document when there was one
    /// (`type`, `title`, `status`…), and extras such as `idempotency_key` or `retry_after`.
    pub fields: serde_json::Map<String, Value>,
    /// What the one-line form adds after the detail (such as a retry hint).
    pub hint: Option<String>,
}

impl Failure {
    /// A failure found by the CLI itself (no answer from the peer): `reason` is a stable word,
    /// `detail` says what to do.
    pub fn local(reason: &str, detail: impl Into<String>) -> Failure {
        let title = match reason {
            "unreachable" => "Peer unreachable",
            "not_logged_in" => "Not logged in",
            "no_operator_token" => "Operator token needed",
            "no_password" => "Password needed",
            "invalid_argument" => "Invalid argument",
            _ => "Command failed",
        };
        let mut fields = serde_json::Map::new();
        fields.insert("title".into(), json!(title));
        Failure {
            status: None,
            reason: reason.to_owned(),
            detail: detail.into(),
            fields,
            hint: None,
        }
    }

    /// Adds `key: value` to the JSON form.
    pub fn with(mut self, key: &str, value: Value) -> Failure {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// The problem object printed on stderr under `--json`: the API's problem document (RFC
    /// 9457 fields and `reason`) when there was one, else one made here with `type`, `title`,
    /// `reason` and `detail`; plus the extra fields.
    pub fn to_json(&self) -> Value {
        let mut v = self.fields.clone();
        v.entry("type")
            .or_insert_with(|| json!(format!("urn:passcom:problem:cli:{}", self.reason)));
        v.entry("title").or_insert_with(|| json!("Refused"));
        if let Some(st) = self.status {
            v.entry("status").or_insert_with(|| json!(st));
        }
        v.insert("reason".into(), json!(self.reason));
        v.insert("detail".into(), json!(self.detail));
        Value::Object(v)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(st) = self.status {
            let name = ureq::http::StatusCode::from_u16(st)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("");
            write!(f, "{st} {name}: ")?;
        }
        write!(f, "{}", self.detail)?;
        if let Some(h) = &self.hint {
            write!(f, " {h}")?;
        }
        Ok(())
    }
}

impl From<String> for Failure {
    fn from(detail: String) -> Failure {
        Failure::local("invalid_argument", detail)
    }
}

/// A blocking client of one peer's API. Answers are read into the API's own DTOs
/// (`passcom_http::api::dto`, `passcom_http::admin`), so a change of the API that the
/// client does not follow fails to compile, or fails loudly at run time, instead of
/// printing blanks.
pub(super) struct Api {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Api {
    pub(super) fn new(conn: &Conn, token: Option<String>) -> Api {
        // Longer than the peer's own bounded wait for a purchase, so the peer answers first.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Api {
            agent,
            base: conn.url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// `GET path`, the answer read as `T`.
    pub(super) fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.call("GET", path, None, &[])
    }

    /// `method path` with `body` as JSON, the answer read as `T`.
    pub(super) fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &impl Serialize,
        headers: &[(&str, &str)],
    ) -> Result<T, Failure> {
        let body = serde_json::to_string(body)
            .map_err(|e| Failure::local("invalid_argument", format!("cannot encode: {e}")))?;
        self.call(method, path, Some(body), headers)
    }

    /// Calls the API with an optional JSON body; reads a successful answer as `T` (an empty
    /// answer as JSON `null`, which `()` accepts), or returns the peer's problem as a
    /// [`Failure`].
    pub(super) fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some(b) => {
                let req = req
                    .header("Content-Type", "application/json")
                    .body(b)
                    .map_err(|e| format!("bad request to {url}: {e}; check --url"))?;
                self.agent.run(req)
            }
            None => self.agent.run(
                req.body(())
                    .map_err(|e| format!("bad request to {url}: {e}; check --url"))?,
            ),
        };
        let mut resp = result.map_err(|e| {
            Failure::local(
                "unreachable",
                format!(
                    "cannot reach the peer at {} ({e}); is it running? set --url",
                    self.base
                ),
            )
        })?;
        let status = resp.status();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.body_mut().read_to_string().map_err(|e| {
            Failure::local(
                "unreachable",
                format!("the peer's answer could not be read: {e}; retry"),
            )
        })?;
        if status.is_success() {
            let text = if text.trim().is_empty() {
                "null"
            } else {
                &text
            };
            return serde_json::from_str(text).map_err(|e| {
                Failure::local(
                    "unexpected_answer",
                    format!(
                        "the peer's answer to {method} {path} is not what this client reads ({e}); \
                         are `passcom` and the peer the same version?"
                    ),
                )
            });
        }
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let detail = problem["detail"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| text.trim().to_owned());
        let mut hints = Vec::new();
        let mut fields = match problem {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(r) = retry {
            hints.push(format!("(retry in {r} s)"));
            fields.insert(
                "retry_after".into(),
                r.parse::<u64>().map(Value::from).unwrap_or(json!(r)),
            );
        }
        if status.as_u16() == 401 && path.starts_with("/api/") {
            hints.push("— run `passcom login`".into());
        }
        let reason = fields
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("http_{}", status.as_u16()));
        if let Some(name) = status.canonical_reason() {
            fields.entry("title").or_insert_with(|| json!(name));
        }
        Err(Failure {
            status: Some(status.as_u16()),
            reason,
            detail,
            fields,
            hint: (!hints.is_empty()).then(|| hints.join(" ")),
        })
    }
}

/// Percent-encodes a path or query component.
pub(super) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
