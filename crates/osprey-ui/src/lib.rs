//! Osprey's web UI: one page for logs (Discover) and traces, written as plain ES modules and
//! embedded in the binary, so `cargo build` needs no JavaScript tool chain and the page can
//! never be out of step with the server that serves it.
//!
//! The page talks only to the native API (`/api/v1`, `docs/openapi.yaml`) and to the Jaeger
//! query API that the HTTP listener also serves under `/jaeger`.

#![warn(missing_docs)]

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its path under `/ui/`.
    pub path: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Strong validator, derived from the bytes at compile time.
    pub etag: &'static str,
}

/// FNV-1a over the bytes: a compile-time ETag (the bytes only change with the binary).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const fn hex_etag(hash: u64) -> [u8; 18] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = DIGITS[((hash >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! assets {
    ($(($path:literal, $type:literal)),* $(,)?) => {
        /// Every file of the UI.
        pub const ASSETS: &[Asset] = &[$(
            Asset {
                path: $path,
                bytes: include_bytes!(concat!("../assets/", $path)),
                content_type: $type,
                etag: {
                    const TAG: [u8; 18] = hex_etag(fnv1a(include_bytes!(concat!("../assets/", $path))));
                    match std::str::from_utf8(&TAG) {
                        Ok(tag) => tag,
                        Err(_) => panic!("hex digits are UTF-8"),
                    }
                },
            }
        ),*];
    };
}

assets![
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("js/app.js", "text/javascript; charset=utf-8"),
    ("js/api.js", "text/javascript; charset=utf-8"),
    ("js/dom.js", "text/javascript; charset=utf-8"),
    ("js/state.js", "text/javascript; charset=utf-8"),
    ("js/time.js", "text/javascript; charset=utf-8"),
    ("js/charts.js", "text/javascript; charset=utf-8"),
    ("js/discover.js", "text/javascript; charset=utf-8"),
    ("js/traces.js", "text/javascript; charset=utf-8"),
    ("js/trace_view.js", "text/javascript; charset=utf-8"),
];

/// The asset at a path under `/ui/`.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// Serves an asset, answering `If-None-Match` with 304.
pub fn serve(asset: &Asset, request_headers: &HeaderMap) -> Response {
    let etag = HeaderValue::from_static(asset.etag);
    if request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag.as_bytes() == asset.etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::ETAG, etag),
            // Revalidate every time: a new binary brings new assets under the same names.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
                ),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.bytes,
    )
        .into_response()
}

/// The page itself (`index.html`), for `/`.
pub fn index(request_headers: &HeaderMap) -> Response {
    serve(
        asset("index.html").expect("index.html is embedded"),
        request_headers,
    )
}

/// Routes of the UI's files: `/ui/{*path}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(
        "/ui/{*path}",
        get(
            |axum::extract::Path(path): axum::extract::Path<String>, headers: HeaderMap| async move {
                match asset(&path) {
                    Some(asset) => serve(asset, &headers),
                    None => (StatusCode::NOT_FOUND, "no such file of the UI\n").into_response(),
                }
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_embedded_with_its_own_etag() {
        let mut tags: Vec<&str> = ASSETS.iter().map(|a| a.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
        for asset in ASSETS {
            assert!(!asset.bytes.is_empty(), "{} is empty", asset.path);
            assert_eq!(asset.etag.len(), 18);
        }
    }

    #[test]
    fn modules_import_only_embedded_files() {
        // A module that imports a file the table lacks would fail only in the browser.
        for module in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(module.bytes).expect("UTF-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(start) = line.find("'./") else {
                    continue;
                };
                let rest = &line[start + 3..];
                let name = &rest[..rest.find('\'').expect("closing quote")];
                assert!(
                    asset(&format!("js/{name}")).is_some(),
                    "{} imports {name}, which is not embedded",
                    module.path
                );
            }
        }
    }
}
