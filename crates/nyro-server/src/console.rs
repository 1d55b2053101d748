//! The web console: a few static files (HTML, CSS, JavaScript modules) embedded in the
//! binary with `include_bytes!`, so `nyrodb serve` needs no separate install, no CDN and no
//! network. `GET /` is the page; `GET /console/{file}` its assets.
//!
//! The files carry no data: the page asks for the token and then reads everything through
//! the public `/v1` API with `Authorization: Bearer <token>`. So they are served without
//! auth (see [`crate::auth`]), like `/health`. Answers carry a strict
//! `Content-Security-Policy` (scripts, styles and connections only from this origin, no
//! inline script), `X-Content-Type-Options: nosniff`, and `Cache-Control: no-cache` so a
//! browser revalidates after an upgrade of the server instead of mixing versions.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::ApiPath;

/// One embedded file: its bytes and its media type.
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every asset under `/console/`, by file name. The page itself is [`INDEX`].
const ASSETS: &[(&str, Asset)] = &[
    (
        "style.css",
        asset(include_bytes!("../console/style.css"), CSS),
    ),
    (
        "icon.svg",
        asset(include_bytes!("../console/icon.svg"), SVG),
    ),
    ("app.js", asset(include_bytes!("../console/js/app.js"), JS)),
    ("api.js", asset(include_bytes!("../console/js/api.js"), JS)),
    ("dom.js", asset(include_bytes!("../console/js/dom.js"), JS)),
    (
        "collections.js",
        asset(include_bytes!("../console/js/collections.js"), JS),
    ),
    (
        "documents.js",
        asset(include_bytes!("../console/js/documents.js"), JS),
    ),
    (
        "query.js",
        asset(include_bytes!("../console/js/query.js"), JS),
    ),
    (
        "feed.js",
        asset(include_bytes!("../console/js/feed.js"), JS),
    ),
    (
        "dashboard.js",
        asset(include_bytes!("../console/js/dashboard.js"), JS),
    ),
    (
        "chart.js",
        asset(include_bytes!("../console/js/chart.js"), JS),
    ),
    (
        "metrics.js",
        asset(include_bytes!("../console/js/metrics.js"), JS),
    ),
    (
        "cluster.js",
        asset(include_bytes!("../console/js/cluster.js"), JS),
    ),
];

const INDEX: Asset = asset(include_bytes!("../console/index.html"), HTML);

const fn asset(bytes: &'static [u8], content_type: &'static str) -> Asset {
    Asset {
        bytes,
        content_type,
    }
}

/// Scripts, styles, images and connections from this origin only; no inline script, no
/// framing, no plugins. `connect-src 'self'` covers the change feed's WebSocket too: under
/// CSP level 3, 'self' matches `ws:`/`wss:` to the same host and port (the browser tests
/// fail on any CSP violation, and open the feed).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

fn serve(asset: &Asset) -> Response {
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    (headers, asset.bytes).into_response()
}

/// The console's page.
#[utoipa::path(get, path = "/", tag = "console", operation_id = "console_page",
    responses((status = 200, description = "the web console (HTML); never needs auth", content_type = "text/html")))]
pub async fn index() -> Response {
    serve(&INDEX)
}

/// One of the console's assets (CSS, JavaScript modules, icon).
#[utoipa::path(get, path = "/console/{file}", tag = "console", operation_id = "console_asset",
    params(("file" = String, Path, description = "an asset's file name, e.g. app.js")),
    responses((status = 200, description = "the asset; never needs auth"),
        (status = 400, response = crate::openapi::responses::BadRequest),
        (status = 404, response = crate::openapi::responses::NotFound)))]
pub async fn asset_file(ApiPath(file): ApiPath<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|(name, _)| *name == file)
        .map(|(_, asset)| serve(asset))
        .ok_or_else(|| ApiError::not_found(format!("the console has no file {file:?}")))
}

/// The file names `GET /console/{file}` serves.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(name, _)| *name)
}

/// Whether `path` is one of the console's (public) paths: `/` and everything under
/// `/console/`.
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, INDEX, is_console_path};

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        // Each `from "./x.js"` in a module, and each `/console/...` in the page, names a
        // file of ASSETS, so the browser never gets a 404 for a script.
        let mut texts = vec![std::str::from_utf8(INDEX.bytes).unwrap_or_default()];
        texts.extend(
            ASSETS
                .iter()
                .map(|(_, a)| std::str::from_utf8(a.bytes).unwrap_or_default()),
        );
        for text in texts {
            for (marker, end) in [("from \"./", '"'), ("/console/", '"')] {
                for piece in text.split(marker).skip(1) {
                    let name = piece.split(end).next().unwrap_or_default();
                    assert!(
                        ASSETS.iter().any(|(n, _)| *n == name),
                        "{name:?} is referenced but not embedded"
                    );
                }
            }
        }
    }

    #[test]
    fn console_paths() {
        assert!(is_console_path("/"));
        assert!(is_console_path("/console/app.js"));
        assert!(!is_console_path("/console"));
        assert!(!is_console_path("/v1/collections"));
        assert!(!is_console_path("//"));
    }
}
