//! Traveler accounts and sessions of one peer, in `accounts.redb` in the data folder.
//!
//! Accounts are peer-local: an account `ana` created at rumos is `ana@rumos` on the tickets it
//! buys, so that a namesake at another peer never sees them. Passwords are stored only as
//! argon2id hashes (PHC strings). Session tokens are 256 random bits from the OS; only their
//! SHA-256 is stored ([`crate::secret::token_hash`]), so the file alone opens no session. They
//! expire after [`SESSION_TTL_MS`] (or [`Accounts::with_session_ttl`]), are deleted at logout,
//! and lapsed ones are purged when presented and at every login.
//!
//! Each account also keeps a wishlist: itineraries (lists of flight ids) saved to buy later,
//! at most [`MAX_WISHES`], keyed by a digest of their flights so saving one twice keeps one.
//!
//! Every method blocks (argon2 is deliberately slow, redb fsyncs): call them from
//! `spawn_blocking`.

use crate::secret::{random_token, token_hash};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use passcom_crdt::Millis;
use rand::RngCore;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// Sessions by the SHA-256 (hex) of their token.
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("session_hashes");
/// Sessions by their token in clear, as written before tokens were hashed: dropped at open,
/// so those sessions end (their travelers log in again) and no clear token stays on disk.
const LEGACY_SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");

/// Saved itineraries by (account name, id).
const WISHES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("wishes");

/// The most itineraries one wishlist keeps.
pub const MAX_WISHES: usize = 50;

/// How long a session lasts after login: 12 hours.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name or password does not meet the rules; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// An account with that name exists.
    #[error("the name {0} is taken; choose another or log in")]
    Taken(String),
    /// Unknown name or wrong password (deliberately not told apart).
    #[error("wrong name or password")]
    BadCredentials,
    /// The session token is unknown, logged out or expired.
    #[error("the session is unknown or expired; log in again")]
    NoSession,
    /// The accounts database failed.
    #[error("accounts database: {0}")]
    Storage(String),
}

fn storage(e: impl std::fmt::Display) -> AccountError {
    AccountError::Storage(e.to_string())
}

#[derive(Serialize, Deserialize)]
struct AccountRecord {
    /// argon2id PHC string.
    password: String,
    created_at: Millis,
}

#[derive(Serialize, Deserialize)]
struct SessionRecord {
    name: String,
    expires: Millis,
}

/// An itinerary saved to a wishlist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wish {
    /// Its id: 16 hex digits of the SHA-256 of its flight ids, so the same itinerary saved
    /// twice is one wish.
    pub id: String,
    /// Flight ids in travel order.
    pub flights: Vec<String>,
    /// When it was saved, ms since the epoch.
    pub saved_at: Millis,
}

/// A logged-in traveler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The account name as typed at signup (`ana`).
    pub name: String,
    /// The network-wide account id written on tickets (`ana@rumos`).
    pub account: String,
    /// When the session lapses.
    pub expires: Millis,
}

/// The accounts database of one peer. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    db: Arc<Database>,
    airline: String,
    session_ttl_ms: i64,
}

impl Accounts {
    /// Opens (or creates) `accounts.redb` in `data_dir` for the peer of `airline`.
    ///
    /// Errors: the folder cannot be created or the file cannot be opened.
    pub fn open(data_dir: &Path, airline: &str) -> std::io::Result<Accounts> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("accounts.redb");
        let db = Database::create(&path)
            .map_err(|e| std::io::Error::other(format!("cannot open {}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(std::io::Error::other)?;
        tx.open_table(ACCOUNTS).map_err(std::io::Error::other)?;
        tx.open_table(SESSIONS).map_err(std::io::Error::other)?;
        tx.open_table(WISHES).map_err(std::io::Error::other)?;
        tx.delete_table(LEGACY_SESSIONS)
            .map_err(std::io::Error::other)?;
        tx.commit().map_err(std::io::Error::other)?;
        Ok(Accounts {
            db: Arc::new(db),
            airline: airline.to_owned(),
            session_ttl_ms: SESSION_TTL_MS,
        })
    }

    /// The same database with sessions lasting `ttl_ms` after login instead of
    /// [`SESSION_TTL_MS`] (tests use short ones to see sessions lapse).
    pub fn with_session_ttl(mut self, ttl_ms: i64) -> Accounts {
        self.session_ttl_ms = ttl_ms.max(1);
        self
    }

    /// How long a session lasts after login, ms.
    pub fn session_ttl_ms(&self) -> i64 {
        self.session_ttl_ms
    }

    /// The account id written on tickets for account `name`: `name@airline`.
    pub fn account_id(&self, name: &str) -> String {
        format!("{name}@{}", self.airline)
    }

    /// Creates an account.
    ///
    /// Rules: the name has 3 to 32 characters among lower-case letters, digits, `.`, `_`,
    /// `-`; the password 8 to 128 characters. Errors: [`AccountError::Invalid`],
    /// [`AccountError::Taken`], [`AccountError::Storage`].
    pub fn create(&self, name: &str, password: &str, now: Millis) -> Result<(), AccountError> {
        check_name(name)?;
        let n = password.chars().count();
        if !(8..=128).contains(&n) {
            return Err(AccountError::Invalid(
                "the password must have 8 to 128 characters".into(),
            ));
        }
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(storage)?;
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(storage)?
            .to_string();
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut t = tx.open_table(ACCOUNTS).map_err(storage)?;
            if t.get(name).map_err(storage)?.is_some() {
                return Err(AccountError::Taken(name.to_owned()));
            }
            let rec = serde_json::to_vec(&AccountRecord {
                password: hash,
                created_at: now,
            })
            .map_err(storage)?;
            t.insert(name, rec.as_slice()).map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }

    /// Checks the password of `name` and opens a session valid for the session lifetime.
    /// Returns the session token and the session.
    ///
    /// Errors: [`AccountError::BadCredentials`], [`AccountError::Storage`].
    pub fn login(
        &self,
        name: &str,
        password: &str,
        now: Millis,
    ) -> Result<(String, Session), AccountError> {
        let rec = {
            let tx = self.db.begin_read().map_err(storage)?;
            let t = tx.open_table(ACCOUNTS).map_err(storage)?;
            let Some(v) = t.get(name).map_err(storage)? else {
                // Spend the same effort as a real check so timing does not reveal names.
                let _ = Argon2::default().hash_password(
                    password.as_bytes(),
                    &SaltString::from_b64("AAAAAAAAAAAAAAAAAAAAAA").map_err(storage)?,
                );
                return Err(AccountError::BadCredentials);
            };
            serde_json::from_slice::<AccountRecord>(v.value()).map_err(storage)?
        };
        let parsed = PasswordHash::new(&rec.password).map_err(storage)?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .map_err(|_| AccountError::BadCredentials)?;
        let token = random_token().map_err(storage)?;
        let session = Session {
            name: name.to_owned(),
            account: self.account_id(name),
            expires: now + self.session_ttl_ms,
        };
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut t = tx.open_table(SESSIONS).map_err(storage)?;
            let rec = serde_json::to_vec(&SessionRecord {
                name: name.to_owned(),
                expires: session.expires,
            })
            .map_err(storage)?;
            t.insert(token_hash(&token).as_str(), rec.as_slice())
                .map_err(storage)?;
            // Sweep lapsed sessions here, where a write happens anyway, so the table stays small.
            sweep(&mut t, now)?;
        }
        tx.commit().map_err(storage)?;
        Ok((token, session))
    }

    /// Deletes every session lapsed at `now`; returns how many.
    pub fn purge_expired(&self, now: Millis) -> Result<usize, AccountError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let n = {
            let mut t = tx.open_table(SESSIONS).map_err(storage)?;
            sweep(&mut t, now)?
        };
        tx.commit().map_err(storage)?;
        Ok(n)
    }

    /// How many sessions are stored, lapsed or not (for tests and operators).
    pub fn stored_sessions(&self) -> Result<u64, AccountError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let t = tx.open_table(SESSIONS).map_err(storage)?;
        t.len().map_err(storage)
    }

    /// The live session of `token` at `now`. A lapsed session is deleted on the way.
    ///
    /// The lookup is by the token's SHA-256, so its timing can at most reveal something about
    /// a hash whose preimage is 256 random bits: no constant-time compare is needed here.
    ///
    /// Errors: [`AccountError::NoSession`] when unknown or expired.
    pub fn session(&self, token: &str, now: Millis) -> Result<Session, AccountError> {
        match self.peek_session(token, now)? {
            Some(session) => Ok(session),
            None => {
                self.remove_session(&token_hash(token))?;
                Err(AccountError::NoSession)
            }
        }
    }

    /// The session of `token` at `now` by a read alone: `Some` when live, `None` when it
    /// lapsed (left in place: [`Accounts::session`] deletes it). A redb read transaction never
    /// waits for a writer or the disk, so the request path calls this on its async worker and
    /// hands only a lapsed session to a blocking thread.
    ///
    /// Errors: [`AccountError::NoSession`] when unknown, [`AccountError::Storage`].
    pub fn peek_session(&self, token: &str, now: Millis) -> Result<Option<Session>, AccountError> {
        let key = token_hash(token);
        let rec: SessionRecord = {
            let tx = self.db.begin_read().map_err(storage)?;
            let t = tx.open_table(SESSIONS).map_err(storage)?;
            let Some(v) = t.get(key.as_str()).map_err(storage)? else {
                return Err(AccountError::NoSession);
            };
            serde_json::from_slice(v.value()).map_err(storage)?
        };
        if rec.expires <= now {
            return Ok(None);
        }
        Ok(Some(Session {
            account: self.account_id(&rec.name),
            name: rec.name,
            expires: rec.expires,
        }))
    }

    /// Ends the session of `token` (logout). Ending an unknown session is not an error.
    pub fn logout(&self, token: &str) -> Result<(), AccountError> {
        self.remove_session(&token_hash(token))
    }

    /// The wishlist of account `name`, oldest first.
    ///
    /// Errors: [`AccountError::Storage`].
    pub fn wishes(&self, name: &str) -> Result<Vec<Wish>, AccountError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let t = tx.open_table(WISHES).map_err(storage)?;
        let mut list: Vec<Wish> = t
            .range((name, "")..)
            .map_err(storage)?
            .filter_map(|e| e.ok())
            .take_while(|(k, _)| k.value().0 == name)
            .filter_map(|(_, v)| serde_json::from_slice(v.value()).ok())
            .collect();
        list.sort_by(|a, b| a.saved_at.cmp(&b.saved_at).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    /// Saves an itinerary (flight ids in travel order) to the wishlist of `name`. Returns
    /// the wish and whether it is new (saving a saved itinerary again changes nothing).
    ///
    /// Errors: [`AccountError::Invalid`] when the wishlist already holds [`MAX_WISHES`];
    /// [`AccountError::Storage`].
    pub fn add_wish(
        &self,
        name: &str,
        flights: &[String],
        now: Millis,
    ) -> Result<(Wish, bool), AccountError> {
        let id = token_hash(&flights.join("\n"))[..16].to_owned();
        let tx = self.db.begin_write().map_err(storage)?;
        let out = {
            let mut t = tx.open_table(WISHES).map_err(storage)?;
            if let Some(v) = t.get((name, id.as_str())).map_err(storage)? {
                let w: Wish = serde_json::from_slice(v.value()).map_err(storage)?;
                (w, false)
            } else {
                let count = t
                    .range((name, "")..)
                    .map_err(storage)?
                    .filter_map(|e| e.ok())
                    .take_while(|(k, _)| k.value().0 == name)
                    .count();
                if count >= MAX_WISHES {
                    return Err(AccountError::Invalid(format!(
                        "the wishlist holds at most {MAX_WISHES} itineraries; remove one first"
                    )));
                }
                let w = Wish {
                    id: id.clone(),
                    flights: flights.to_vec(),
                    saved_at: now,
                };
                let bytes = serde_json::to_vec(&w).map_err(storage)?;
                t.insert((name, id.as_str()), bytes.as_slice())
                    .map_err(storage)?;
                (w, true)
            }
        };
        tx.commit().map_err(storage)?;
        Ok(out)
    }

    /// Removes wish `id` from the wishlist of `name`; whether it was there.
    ///
    /// Errors: [`AccountError::Storage`].
    pub fn remove_wish(&self, name: &str, id: &str) -> Result<bool, AccountError> {
        let tx = self.db.begin_write().map_err(storage)?;
        let found = {
            let mut t = tx.open_table(WISHES).map_err(storage)?;
            t.remove((name, id)).map_err(storage)?.is_some()
        };
        tx.commit().map_err(storage)?;
        Ok(found)
    }

    fn remove_session(&self, key: &str) -> Result<(), AccountError> {
        let tx = self.db.begin_write().map_err(storage)?;
        {
            let mut t = tx.open_table(SESSIONS).map_err(storage)?;
            t.remove(key).map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }
}

/// Deletes the sessions of `t` lapsed at `now` (and unreadable ones); returns how many.
fn sweep(t: &mut redb::Table<&str, &[u8]>, now: Millis) -> Result<usize, AccountError> {
    let lapsed: Vec<String> = t
        .iter()
        .map_err(storage)?
        .filter_map(|e| e.ok())
        .filter(|(_, v)| {
            serde_json::from_slice::<SessionRecord>(v.value()).map_or(true, |s| s.expires <= now)
        })
        .map(|(k, _)| k.value().to_owned())
        .collect();
    for k in &lapsed {
        t.remove(k.as_str()).map_err(storage)?;
    }
    Ok(lapsed.len())
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !(3..=32).contains(&name.len()) || !ok_chars {
        return Err(AccountError::Invalid(
            "the name must have 3 to 32 characters among a-z, 0-9, '.', '_' and '-'".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signup_login_expiry_logout() {
        let dir = tempfile::tempdir().unwrap();
        let acc = Accounts::open(dir.path(), "rumos").unwrap();
        acc.create("ana", "correct horse", 0).unwrap();
        assert!(matches!(
            acc.create("ana", "another one", 0),
            Err(AccountError::Taken(_))
        ));
        assert!(matches!(
            acc.create("A", "correct horse", 0),
            Err(AccountError::Invalid(_))
        ));
        assert!(matches!(
            acc.create("bia", "short", 0),
            Err(AccountError::Invalid(_))
        ));
        assert!(matches!(
            acc.login("ana", "wrong password", 0),
            Err(AccountError::BadCredentials)
        ));
        assert!(matches!(
            acc.login("nobody", "correct horse", 0),
            Err(AccountError::BadCredentials)
        ));
        let (token, s) = acc.login("ana", "correct horse", 1_000).unwrap();
        assert_eq!(s.account, "ana@rumos");
        assert_eq!(acc.session(&token, 2_000).unwrap().name, "ana");
        assert!(matches!(
            acc.session(&token, 1_000 + SESSION_TTL_MS),
            Err(AccountError::NoSession)
        ));
        // The lapsed session was purged when presented.
        assert_eq!(acc.stored_sessions().unwrap(), 0);
        let (token, _) = acc.login("ana", "correct horse", 1_000).unwrap();
        let (other, _) = acc.login("ana", "correct horse", 1_000).unwrap();
        assert_eq!(acc.stored_sessions().unwrap(), 2);
        acc.logout(&token).unwrap();
        assert!(matches!(
            acc.session(&token, 2_000),
            Err(AccountError::NoSession)
        ));
        assert_eq!(acc.purge_expired(1_000 + SESSION_TTL_MS).unwrap(), 1);
        assert!(acc.session(&other, 2_000).is_err());
        // Tokens are stored only hashed.
        let (token, _) = acc.login("ana", "correct horse", 3_000).unwrap();
        drop(acc);
        let raw = std::fs::read(dir.path().join("accounts.redb")).unwrap();
        assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()));
        // Accounts survive a restart.
        let acc = Accounts::open(dir.path(), "rumos").unwrap();
        assert!(acc.login("ana", "correct horse", 3_000).is_ok());
        assert_eq!(acc.session(&token, 4_000).unwrap().name, "ana");
    }

    #[test]
    fn a_wishlist_keeps_each_itinerary_once_per_traveler_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let acc = Accounts::open(dir.path(), "rumos").unwrap();
        let trip = vec!["RU1-2026-12-01".to_owned(), "GI2-2026-12-01".to_owned()];
        let (w, new) = acc.add_wish("ana", &trip, 10).unwrap();
        assert!(new);
        let (again, new) = acc.add_wish("ana", &trip, 20).unwrap();
        assert_eq!((again, new), (w.clone(), false));
        acc.add_wish("ana", &trip[..1], 30).unwrap();
        // Another traveler, whose name begins like ana's, has a list of her own.
        acc.add_wish("anabel", &trip, 40).unwrap();
        assert_eq!(acc.wishes("ana").unwrap().len(), 2);
        assert_eq!(acc.wishes("anabel").unwrap().len(), 1);
        assert!(acc.wishes("bia").unwrap().is_empty());
        drop(acc);
        let acc = Accounts::open(dir.path(), "rumos").unwrap();
        let list = acc.wishes("ana").unwrap();
        assert_eq!(list[0], w);
        assert!(acc.remove_wish("ana", &w.id).unwrap());
        assert!(!acc.remove_wish("ana", &w.id).unwrap());
        assert!(!acc.remove_wish("bia", &list[1].id).unwrap());
        assert_eq!(acc.wishes("ana").unwrap().len(), 1);
        // The list is bounded.
        for i in 0..MAX_WISHES - 1 {
            acc.add_wish("ana", &[format!("RU{i}")], 50).unwrap();
        }
        assert!(matches!(
            acc.add_wish("ana", &["RU999".to_owned()], 60),
            Err(AccountError::Invalid(_))
        ));
    }

    #[test]
    fn clear_tokens_of_older_versions_are_dropped_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Database::create(dir.path().join("accounts.redb")).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(LEGACY_SESSIONS)
                .unwrap()
                .insert("a-clear-token", b"{}".as_slice())
                .unwrap();
            tx.commit().unwrap();
        }
        let acc = Accounts::open(dir.path(), "rumos").unwrap();
        let tx = acc.db.begin_read().unwrap();
        assert!(tx.open_table(LEGACY_SESSIONS).is_err());
        assert!(acc.session("a-clear-token", 0).is_err());
    }
}
