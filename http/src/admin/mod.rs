//! The operator API: status, catalog edits, partitions, dial and hang-up, and the live event
//! stream, behind the operator token created in the data folder at first start.
//!
//! One file per concern, every item re-exported here (the router, the OpenAPI document and the
//! CLI name them `admin::…`):
//! - `auth`: the operator token file and the [`Operator`] extractor every endpoint takes;
//! - `report`: `GET /admin/status` and `GET /admin/tickets`, and their DTOs;
//! - `catalog`: `POST /admin/flights`, this airline's catalog edits;
//! - `network`: `POST /admin/partition`, `heal`, `dial` and `hangup`;
//! - `live`: `GET /admin/events`, the live event stream.
//!
//! Like the whole crate, it decides nothing about seats and holds no libp2p type: it submits
//! requests to the peer and renders what comes back.

mod auth;
mod catalog;
mod live;
mod network;
mod report;

pub use auth::*;
pub use catalog::*;
pub use live::*;
pub use network::*;
pub use report::*;
