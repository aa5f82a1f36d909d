//! HTTP API and web page of a Passcom peer (CONTRACT STUB).

use passcom_net::PeerHandle;
use std::path::PathBuf;

/// Serves the API and the web page on `listener` until the returned future is dropped.
/// Accounts and the operator token live in `data_dir`.
pub async fn serve(_handle: PeerHandle, _listener: tokio::net::TcpListener, _data_dir: PathBuf) -> std::io::Result<()> {
    unimplemented!()
}
