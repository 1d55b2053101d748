//! The OpenAPI 3.1 description served at `GET /v1/openapi.json`, generated from the
//! handlers' annotations (paths, parameters, bodies, and the statuses each handler and its
//! extractors can answer) and completed by [`document`] with what the layers around every
//! handler add: 503 from the connection limit, the WebSocket handshake's headers on the
//! change feeds, and, when the server requires a token, the
//! bearer security requirement and 401 on every route but the public ones.
//!
//! Ids and sequence numbers are described as u64 ([`crate::wire::U64`]), collection names
//! with the contract's pattern ([`crate::wire::CollectionName`]). The tests in
//! `tests/it/openapi.rs` validate the served document and compare its operations with the
//! router's; `scripts/api-fuzz.sh` runs schemathesis against a real server with it.

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Ref, RefOr, Required};

use crate::console;
use crate::routes::{changes, cluster, collections, query, records, system};
use crate::wire;

pub mod responses;

/// NyroDB's HTTP API, as every handler describes itself.
#[derive(OpenApi)]
#[openapi(
    info(title = "NyroDB", description = "A document database: JSON documents in collections, equality queries on indexed fields, a change feed.\n\nErrors are always `{\"error\": {\"code\", \"message\"}}`. Every answer carries an `x-request-id` header. An unknown path answers 404 `not_found`; a known path with a method it does not take, 405 `bad_request`."),
    paths(
        system::health, system::stats, system::metrics, system::openapi, system::compact, system::backup,
        collections::list, collections::create, collections::drop,
        collections::add_index, collections::drop_index,
        records::insert, records::bulk_insert, records::get, records::replace, records::delete,
        records::list, query::query, query::explain,
        changes::one_collection, changes::all_collections,
        cluster::status, cluster::add, cluster::remove,
        console::index, console::asset_file,
    ),
    components(
        schemas(
            wire::ErrorBody, wire::ErrorDetail, wire::Health, wire::CollectionList, wire::CollectionEntry,
            wire::CreateCollection, wire::CollectionAnswer, wire::NewIndex, wire::IndexAnswer, wire::InsertAnswer, wire::BulkAnswer,
            wire::ReplaceAnswer, wire::PageAnswer, wire::QueryBody, wire::QueryAnswer, wire::ExplainAnswer, wire::CompactAnswer,
            wire::BackupBody, wire::BackupAnswer, wire::U64, wire::CollectionName,
            wire::DocumentBody, wire::DocumentsBody, wire::StoredDocument,
            wire::ClusterAnswer, wire::MemberAnswer, wire::NewMember, wire::Role, wire::Consistency,
        ),
        responses(
            responses::BadRequest, responses::NotFound, responses::Timeout, responses::Conflict,
            responses::TooLarge, responses::Internal, responses::Unauthorized, responses::Unavailable,
        ),
    ),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The name of the security scheme (`Authorization: Bearer <token>`).
const SECURITY_SCHEME: &str = "bearer";

/// The description of a server that requires a bearer token (`auth`) or not.
pub fn document(auth: bool) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for (path, item) in doc.paths.paths.iter_mut() {
        let protected = auth && !crate::auth::is_public(path);
        for operation in operations(item) {
            add_response::<responses::Unavailable>(operation, "503");
            if operation.responses.responses.contains_key("101") {
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .extend(upgrade_headers());
            }
            if protected {
                operation.security = Some(vec![SecurityRequirement::new(
                    SECURITY_SCHEME,
                    Vec::<String>::new(),
                )]);
                add_response::<responses::Unauthorized>(operation, "401");
            }
        }
    }
    if let Some(operation) = doc
        .paths
        .paths
        .get_mut("/v1/collections/{collection}")
        .and_then(|item| item.put.as_mut())
    {
        // An empty body means no indexes (`Option<CreateCollection>` would say `null`, which
        // the server refuses).
        if let Some(body) = operation.request_body.as_mut() {
            body.required = Some(Required::False);
        }
    }
    if let Some(parameter) = doc
        .paths
        .paths
        .get_mut("/console/{file}")
        .and_then(|item| item.get.as_mut())
        .and_then(|operation| operation.parameters.as_mut())
        .and_then(|parameters| parameters.iter_mut().find(|p| p.name == "file"))
    {
        parameter.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(console::asset_names()))
                .into(),
        );
    }
    doc
}

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Adds the reusable response `R` under `status`, unless the operation describes that
/// status itself.
fn add_response<'r, R: utoipa::ToResponse<'r>>(operation: &mut Operation, status: &str) {
    let (name, _) = R::response();
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

/// The headers of a WebSocket upgrade (RFC 6455 section 4.1), as axum checks them: the
/// change-feed routes answer a GET without them with 400.
fn upgrade_headers() -> Vec<Parameter> {
    let header = |name: &str, pattern: Option<&str>, description: &str| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(description))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(pattern),
            ))
            .build()
    };
    vec![
        header(
            "Connection",
            Some(r"(^|,)\s*[Uu][Pp][Gg][Rr][Aa][Dd][Ee]\s*(,|$)"),
            "a list with the token `Upgrade` (any case)",
        ),
        header(
            "Upgrade",
            Some("^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$"),
            "`websocket` (any case)",
        ),
        header("Sec-WebSocket-Version", Some("^13$"), "`13`"),
        header("Sec-WebSocket-Key", None, "the handshake's key"),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::BTreeSet;

    use super::document;

    /// The paths in the router's debug output: the quoted strings that start with `/`, but
    /// axum's own fallback captures.
    fn routed_paths(shown: &str) -> BTreeSet<String> {
        shown
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with('/') && !s.contains("__private__"))
            .map(str::to_string)
            .collect()
    }

    /// Every path the router serves is described, and every described path is routed. (The
    /// router does not list its routes; its debug output names their paths. The methods of
    /// each path are compared by `tests/it/openapi.rs`, which sends every one.)
    #[tokio::test]
    async fn every_routed_path_is_described() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::ServerConfig::default();
        config.db.storage.path = dir.path().to_path_buf();
        let db = nyro_core::Database::open(&config.db).await.unwrap();
        let router = crate::build_router(crate::AppState::new(db, &config));
        let routed = routed_paths(&format!("{router:?}"));
        let described: BTreeSet<String> = document(false).paths.paths.into_keys().collect();
        assert!(
            routed.len() > 10,
            "the router's debug output no longer names its paths: {routed:?}"
        );
        assert_eq!(routed, described);
    }
}
