//! The operator token: created in the data folder at first start (256 random bits, mode
//! 0600), and checked on every operator request by the [`Operator`] extractor.
//!
//! It owns the token file; it must never log the token or compare it in variable time.

use crate::Shared;
use crate::problem::ApiError;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use std::path::Path;

/// File name of the operator token in the data folder.
pub const TOKEN_FILE: &str = "operator.token";

/// Reads the operator token from `data_dir`, creating it (256 random bits, hex, mode 0600)
/// at first start.
///
/// Errors: the folder or the file cannot be read or written.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<String> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(std::io::Error::new(
                e.kind(),
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    }
    let token = crate::secret::random_token()?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    use std::io::Write;
    let mut f = opts.open(&path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()))
    })?;
    f.write_all(format!("{token}\n").as_bytes())?;
    f.sync_all()?;
    Ok(token)
}

/// Proof that the request carries the operator token (`Authorization: Bearer <token>`).
pub struct Operator;

impl FromRequestParts<Shared> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, ApiError> {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            None => Err(ApiError::unauthorized(format!(
                "send the operator token as 'Authorization: Bearer <token>'; it is in {TOKEN_FILE} in the peer's data folder"
            ))),
            // Constant time, so the token cannot be guessed byte by byte from response times.
            Some(t) if crate::secret::same_secret(t, &s.operator_token) => Ok(Operator),
            Some(_) => Err(ApiError::forbidden(format!(
                "wrong operator token; use the one in {TOKEN_FILE} in the peer's data folder"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_token(dir.path()).unwrap();
        assert_eq!(a.len(), 64);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
