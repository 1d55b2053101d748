//! The error answers of the description, one reusable response per status
//! (`#/components/responses/...`), each with the error body and the codes it can carry.
//! Handlers name the ones they can answer: `(status = 404, response = NotFound)`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// An error answer: the error body, described.
fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => $description:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error($description).build().into())
            }
        }
    )*};
}

error_responses! {
    /// 400.
    BadRequest => "`bad_request` (a body, parameter or id of the wrong shape, an unknown or \
        repeated query parameter), `invalid_json` (the body does not parse), `invalid_name` \
        (a collection name that does not match the pattern) or `not_indexed` (a query on a \
        field the collection does not index); the message names what is wrong";
    /// 404.
    NotFound => "`not_found`: no such collection or document";
    /// 408.
    Timeout => "`bad_request`: the request body did not arrive within 30 s";
    /// 409.
    Conflict => "`conflict`: a given `_id` exists (or repeats within one `_bulk`), or the \
        collection exists with other indexes; nothing was written";
    /// 413.
    TooLarge => "`payload_too_large`: the body is over `server.max_body_bytes`; nothing was \
        written";
    /// 500.
    Internal => "`internal`: reading the database failed (the server log has the details)";
    /// 401; every route but `/health` and the console's files, when `server.auth_token` is
    /// set.
    Unauthorized => "`unauthorized`: `server.auth_token` is set and the request has no \
        `Authorization: Bearer <token>` (or a wrong one)";
}

/// 503, on every route: the server is past its connection limit, or (on the routes that
/// read or write documents) every `max_concurrent_ops` permit is taken, or writes are
/// refused.
pub struct Unavailable;

impl<'r> utoipa::ToResponse<'r> for Unavailable {
    fn response() -> (&'r str, RefOr<Response>) {
        let retry_after = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer))
            .description(Some("seconds to wait; sent with `overloaded`"))
            .build();
        let response = error(
            "`overloaded` (with `Retry-After`): the server is at its connection limit, or every \
             `max_concurrent_ops` permit is taken; nothing of the request was done. \
             `unavailable`: writes are refused until a restart (an fdatasync failed), the \
             server is closing, or this write failed (e.g. the disk is full) and nothing of it \
             was kept",
        )
        .header("Retry-After", retry_after);
        ("Unavailable", response.build().into())
    }
}
