//! Handling of bearer secrets (session and operator tokens): random generation, hashing for
//! storage, and comparison whose time does not depend on where two secrets differ.

use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// 256 random bits from the operating system, as 64 lower-case hex digits.
///
/// Errors: the OS random source failed (the caller must not fall back to a weaker one).
pub fn random_token() -> std::io::Result<String> {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut raw)
        .map_err(std::io::Error::other)?;
    Ok(hex(&raw))
}

/// SHA-256 of `token`, as 64 lower-case hex digits.
///
/// Session tokens are stored only as this hash, so a copy of `accounts.redb` (a backup, a
/// stolen disk) does not hand out live sessions. A plain hash suffices, unlike passwords:
/// the token has 256 random bits, so there is nothing to brute-force, and a slow hash
/// (argon2) on every authenticated request would be a denial-of-service lever.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths.
///
/// Used for secrets, where an early exit at the first differing byte would let a client
/// learn a token byte by byte from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into an early-exit compare.
    std::hint::black_box(diff) == 0
}

/// Whether the secret `given` equals `expected`, in time independent of both their contents
/// and of `given`'s length: both are hashed first, so only fixed-size digests are compared.
pub fn same_secret(given: &str, expected: &str) -> bool {
    let (g, e) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    constant_time_eq(&g, &e)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_and_hashes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("", "a"));
        // The SHA-256 test vector of "abc" (FIPS 180-2).
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = random_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token().unwrap());
    }
}
