//! The UI's static files, compiled into the binary: one stylesheet, one script, one icon.
//! Pages link them with a content hash in the query string, so browsers may keep them for a
//! year and still get a new version the moment the binary changes. Nothing else is served here.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// `/assets/<name>?v=<hash>`.
    url: LazyLock<String>,
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../assets/", $name)),
            url: LazyLock::new(|| {
                let body = include_bytes!(concat!("../../assets/", $name));
                let hash = hex::encode(Sha256::digest(body));
                format!("/assets/{}?v={}", $name, &hash[..12])
            }),
        }
    };
}

static CSS: Asset = asset!("app.css", "text/css; charset=utf-8");
static JS: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static ICON: Asset = asset!("icon.svg", "image/svg+xml");

pub fn css_url() -> &'static str {
    &CSS.url
}

pub fn js_url() -> &'static str {
    &JS.url
}

pub fn icon_url() -> &'static str {
    &ICON.url
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = [&CSS, &JS, &ICON].into_iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut resp = asset.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    resp
}
