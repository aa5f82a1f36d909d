//! What the client keeps between commands: the traveler's session file, the password
//! prompt, the operator token, the idempotency key of a purchase.

use super::http::Failure;
use super::{AdminOpt, SessionOpt};
use passcom_http::api::dto::SessionDto;
use std::path::PathBuf;

pub(super) fn random_key() -> String {
    // Unique enough for one traveler's purchases: time in ns and the process id.
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("cli-{ns:x}-{:x}", std::process::id())
}

/// The password: `given` (from `--password` or `PASSCOM_PASSWORD`), else asked for on the
/// terminal without echo when stdin is one, else the first line of stdin (piped).
pub(super) fn password_or_stdin(given: Option<String>) -> Result<String, Failure> {
    if let Some(p) = given {
        return Ok(p);
    }
    use std::io::IsTerminal;
    let p = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("password: ").map_err(|e| {
            Failure::local(
                "no_password",
                format!("cannot read the password from the terminal: {e}"),
            )
        })?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| {
            Failure::local(
                "no_password",
                format!("cannot read the password from stdin: {e}"),
            )
        })?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if p.is_empty() {
        return Err(Failure::local(
            "no_password",
            "no password given; type it when asked, pipe it on stdin, pass --password or set PASSCOM_PASSWORD",
        ));
    }
    Ok(p)
}

pub(super) fn session_path(opt: &SessionOpt) -> Result<PathBuf, String> {
    if let Some(p) = &opt.session {
        return Ok(p.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .ok_or("no home folder to keep the session in; pass --session FILE")?;
    Ok(base.join("passcom").join("session"))
}

/// The session file: the token and the peer it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct SessionFile {
    url: String,
    token: String,
    account: String,
    expires: i64,
}

pub(super) fn save_session(opt: &SessionOpt, url: &str, s: &SessionDto) -> Result<PathBuf, String> {
    let path = session_path(opt)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let body = SessionFile {
        url: url.to_owned(),
        token: s.token.clone(),
        account: s.account.clone(),
        expires: s.expires,
    };
    let body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        // The token is a credential: readable by its owner only.
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    opts.open(&path)
        .and_then(|mut f| f.write_all(body.as_bytes()))
        .map_err(|e| format!("cannot write the session to {}: {e}", path.display()))?;
    Ok(path)
}

pub(super) fn load_session(opt: &SessionOpt, url: &str) -> Result<String, Failure> {
    let path = session_path(opt)?;
    let not_in = |detail: String| Failure::local("not_logged_in", detail);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        not_in(format!(
            "not logged in (no session in {}); run `passcom login`",
            path.display()
        ))
    })?;
    let s: SessionFile = serde_json::from_str(&text).map_err(|_| {
        not_in(format!(
            "{} is damaged; run `passcom login`",
            path.display()
        ))
    })?;
    if s.url != url {
        return Err(not_in(format!(
            "the session in {} is for {}; run `passcom login --url {url}` or pass --session",
            path.display(),
            s.url
        )));
    }
    Ok(s.token)
}

pub(super) fn admin_token(opt: &AdminOpt) -> Result<String, Failure> {
    if let Some(t) = &opt.admin_token {
        return Ok(t.trim().to_owned());
    }
    if let Some(dir) = &opt.data {
        let p = dir.join("operator.token");
        return std::fs::read_to_string(&p)
            .map(|t| t.trim().to_owned())
            .map_err(|e| {
                Failure::local(
                    "no_operator_token",
                    format!(
                        "cannot read {}: {e}; is --data the peer's data folder?",
                        p.display()
                    ),
                )
            });
    }
    Err(Failure::local(
        "no_operator_token",
        "this is an operator command: pass --admin-token, set PASSCOM_ADMIN_TOKEN, or pass --data DIR",
    ))
}
