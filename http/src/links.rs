//! OpenAPI links: which answer supplies the id another operation takes (a cart's id to release
//! it, a ticket's id to cancel it, an Idempotency-Key to ask for a purchase's outcome, a
//! flight of a search to see its seats). Clients read them as documentation; Schemathesis's
//! stateful phase follows them, so the operations behind an id are exercised with ids that
//! exist.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

/// One link: from the `status` answer of `method path`, to the operation `target`
/// (`"METHOD /path"`), with `parameters` as runtime expressions.
struct Edge {
    method: &'static str,
    path: &'static str,
    status: &'static str,
    name: &'static str,
    target: (&'static str, &'static str),
    parameters: &'static [(&'static str, &'static str)],
}

const EDGES: &[Edge] = &[
    Edge {
        method: "get",
        path: "/api/routes",
        status: "200",
        name: "SeatsOfTheFirstLeg",
        target: ("get", "/api/flights/{id}/seats"),
        parameters: &[("id", "$response.body#/itineraries/0/legs/0/flight")],
    },
    Edge {
        method: "post",
        path: "/api/holds",
        status: "201",
        name: "ReleaseTheCart",
        target: ("delete", "/api/holds/{id}"),
        parameters: &[("id", "$response.body#/hold_id")],
    },
    Edge {
        method: "post",
        path: "/api/purchases",
        status: "201",
        name: "PurchaseOutcome",
        target: ("get", "/api/purchases/{key}"),
        parameters: &[("key", "$request.header.Idempotency-Key")],
    },
    Edge {
        method: "post",
        path: "/api/purchases",
        status: "201",
        name: "CancelTheTicket",
        target: ("delete", "/api/tickets/{id}"),
        parameters: &[("id", "$response.body#/id")],
    },
    Edge {
        method: "post",
        path: "/api/wishlist",
        status: "201",
        name: "RemoveTheWish",
        target: ("delete", "/api/wishlist/{id}"),
        parameters: &[("id", "$response.body#/id")],
    },
];

/// The JSON pointer of an operation in the document, for `operationRef` (operation ids are
/// function names, not unique across the traveler and operator APIs).
fn operation_ref(method: &str, path: &str) -> String {
    format!(
        "#/paths/{}/{method}",
        path.replace('~', "~0").replace('/', "~1")
    )
}

/// Adds [`EDGES`] to the document's responses. An edge whose operation or answer is not in
/// the document is skipped (a test checks that none is).
pub(crate) struct Links;

impl utoipa::Modify for Links {
    fn modify(&self, doc: &mut OpenApi) {
        for e in EDGES {
            let Some(item) = doc.paths.paths.get_mut(e.path) else {
                continue;
            };
            let op = match e.method {
                "get" => item.get.as_mut(),
                "post" => item.post.as_mut(),
                "delete" => item.delete.as_mut(),
                _ => None,
            };
            let Some(RefOr::T(resp)) = op.and_then(|op| op.responses.responses.get_mut(e.status))
            else {
                continue;
            };
            let mut link = LinkBuilder::new()
                .operation_ref(operation_ref(e.target.0, e.target.1))
                .description(format!("{} {}", e.target.0.to_uppercase(), e.target.1));
            for (name, expr) in e.parameters {
                link = link.parameter(*name, *expr);
            }
            resp.links.insert(e.name.to_owned(), link.build().into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi as _;

    /// Every edge lands in the document and points at an operation that exists: a renamed
    /// path or status would otherwise silently drop the link.
    #[test]
    fn every_link_is_in_the_document_and_points_at_an_operation() {
        let doc = serde_json::to_value(crate::ApiDoc::openapi()).unwrap();
        for e in EDGES {
            let link = &doc["paths"][e.path][e.method]["responses"][e.status]["links"][e.name];
            assert!(
                link.is_object(),
                "{} {} {}: no link {}",
                e.method,
                e.path,
                e.status,
                e.name
            );
            let target = &doc["paths"][e.target.1][e.target.0];
            assert!(
                target.is_object(),
                "{}: no operation {:?}",
                e.name,
                e.target
            );
            for (name, _) in e.parameters {
                let declared = target["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == *name);
                assert!(
                    declared,
                    "{}: {:?} has no parameter {name}",
                    e.name, e.target
                );
            }
        }
    }
}
