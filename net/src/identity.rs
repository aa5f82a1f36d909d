//! The peer's libp2p identity: an ed25519 key created on first start and reused after.
//!
//! The file `identity.key` in the data folder holds the 32 secret bytes, readable by the owner
//! only (0600). The same bytes make the libp2p keypair (so the peer id is the airline's public
//! key) and the node's event-signing key, so a receiver can check an event's signature with
//! the key it learned from the sender's peer id.

use crate::NetError;
use libp2p::identity::Keypair;
use std::io::Write;
use std::path::Path;

/// Name of the identity file inside the data folder.
pub const IDENTITY_FILE: &str = "identity.key";

/// Loads the identity from `dir/identity.key`, or creates it (and `dir`) on first start.
///
/// Returns the keypair and its 32 secret bytes.
///
/// Errors: the folder or file cannot be created or read, or the file is not 32 bytes (a
/// damaged or foreign file: restore it, since a new key would be a new peer id that the other
/// airlines refuse under the same airline name).
pub fn load_or_create(dir: &Path) -> Result<(Keypair, [u8; 32]), NetError> {
    let path = dir.join(IDENTITY_FILE);
    let io =
        |what: &str, e: std::io::Error| NetError::Other(format!("{what} {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(|e| {
        NetError::Other(format!("cannot create data folder {}: {e}", dir.display()))
    })?;
    let secret: [u8; 32] = match std::fs::read(&path) {
        Ok(bytes) => bytes.as_slice().try_into().map_err(|_| {
            NetError::Other(format!(
                "{} holds {} bytes, not a 32-byte ed25519 secret; restore the original file (a new key is a new peer id)",
                path.display(),
                bytes.len()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kp = Keypair::generate_ed25519();
            let secret = secret_of(&kp);
            // Write to a temporary name and rename, so a crash never leaves a half-written key.
            let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(|e| io("cannot create", e))?;
            f.write_all(&secret).and_then(|()| f.sync_all()).map_err(|e| io("cannot write", e))?;
            std::fs::rename(&tmp, &path).map_err(|e| io("cannot create", e))?;
            secret
        }
        Err(e) => return Err(io("cannot read", e)),
    };
    let kp = Keypair::ed25519_from_bytes(secret).map_err(|e| {
        NetError::Other(format!(
            "{} is not a valid ed25519 secret: {e}",
            path.display()
        ))
    })?;
    Ok((kp, secret))
}

/// The 32 secret bytes of an ed25519 keypair.
///
/// Panics: if `kp` is not ed25519 (every keypair of this crate is).
pub(crate) fn secret_of(kp: &Keypair) -> [u8; 32] {
    let ed = kp
        .clone()
        .try_into_ed25519()
        .expect("passcom identities are ed25519");
    let mut out = [0u8; 32];
    out.copy_from_slice(ed.secret().as_ref());
    out
}

/// The 32-byte ed25519 public key inside a peer id (a Passcom peer id is its airline's
/// signing key, inlined in the id), so a roster can be written with the ids that
/// `passcom peer-id` prints.
///
/// Errors: the text is not a peer id, or the id does not inline an ed25519 key (ids of other
/// key types hash the key and cannot give it back).
pub fn ed25519_of_peer_id(text: &str) -> Result<[u8; 32], String> {
    let id: libp2p::PeerId = text.parse().map_err(|e| {
        format!("{text:?} is not a libp2p peer id ({e}); copy it from `passcom peer-id`")
    })?;
    // An identity multihash (code 0) carries the protobuf-encoded public key itself.
    let mh: &libp2p::multihash::Multihash<64> = id.as_ref();
    if mh.code() != 0 {
        return Err(format!(
            "peer id {text} hashes its key instead of inlining it: not a Passcom (ed25519) identity"
        ));
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest())
        .map_err(|e| format!("peer id {text} holds no readable public key ({e})"))?;
    ed25519_public(&key).ok_or_else(|| format!("peer id {text} is not an ed25519 identity"))
}

/// The peer id of the identity in `dir`, created when `dir` has none yet (so that a closed
/// roster can be written before the network's first start).
///
/// Returns the id and whether the identity was created now.
///
/// Errors: as [`load_or_create`].
pub fn peer_id_of(dir: &Path) -> Result<(libp2p::PeerId, bool), NetError> {
    let existed = dir.join(IDENTITY_FILE).exists();
    let (kp, _) = load_or_create(dir)?;
    Ok((kp.public().to_peer_id(), !existed))
}

/// The peer id (as text) of an ed25519 public key: what `passcom peer-id` prints for the
/// peer holding its secret. `None` when the bytes are not a valid ed25519 key.
pub fn peer_id_of_key(key: &[u8; 32]) -> Option<String> {
    let ed = libp2p::identity::ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(
        libp2p::identity::PublicKey::from(ed)
            .to_peer_id()
            .to_string(),
    )
}

/// The 32 bytes of an ed25519 public key, or `None` for another key type.
pub(crate) fn ed25519_public(key: &libp2p::identity::PublicKey) -> Option<[u8; 32]> {
    key.clone().try_into_ed25519().ok().map(|k| k.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, sa) = load_or_create(dir.path()).unwrap();
        let (b, sb) = load_or_create(dir.path()).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        assert_eq!(sa, sb);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(IDENTITY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_identity_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IDENTITY_FILE), b"short").unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }
}
