//! The OpenAPI description, generated from the handlers' annotations so it stays in step
//! with the routes (a test checks that every route is in it).

use utoipa::OpenApi;

use crate::console;
use crate::routes::{changes, collections, records, system};
use crate::wire;

/// NyroDB's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(title = "NyroDB", description = "A document database: JSON documents in collections, equality queries on indexed fields, a change feed."),
    paths(
        system::health, system::stats, system::metrics, system::openapi, system::compact, system::backup,
        collections::list, collections::create, collections::drop,
        records::insert, records::bulk_insert, records::get, records::replace, records::delete,
        records::list, records::query,
        changes::one_collection, changes::all_collections,
        console::index, console::asset_file,
    ),
    components(schemas(
        wire::ErrorBody, wire::ErrorDetail, wire::Health, wire::CollectionList, wire::CollectionEntry,
        wire::CreateCollection, wire::InsertAnswer, wire::BulkAnswer, wire::ReplaceAnswer,
        wire::PageAnswer, wire::QueryBody, wire::CompactAnswer,
        wire::BackupBody, wire::BackupAnswer,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
