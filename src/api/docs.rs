//! The documents and docs pages (`/openapi.json`, `/openapi.yaml`, `/docs`, `/redoc`): built
//! once at start-up from the final OpenAPI document, gzip-compressed once, and served with a
//! strong `ETag` so a browser revalidates with a 304 instead of downloading megabytes again.
use std::io::Write;

use poem::{
    Endpoint, Request, Response,
    http::{HeaderValue, StatusCode, header},
};
use sha2::{Digest, Sha256};

/// One static answer: its bytes, their gzip form, its media type and `ETag`.
pub struct StaticPage {
    body: bytes::Bytes,
    gzipped: bytes::Bytes,
    content_type: &'static str,
    etag: String,
}

impl StaticPage {
    pub fn new(body: String, content_type: &'static str) -> StaticPage {
        let digest = Sha256::digest(body.as_bytes());
        let etag = format!("\"{}\"", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>());
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzipped = encoder.write_all(body.as_bytes()).and_then(|()| encoder.finish()).unwrap_or_default();
        StaticPage { body: body.into(), gzipped: gzipped.into(), content_type, etag }
    }

    fn answer(&self, req: &Request) -> Response {
        let matches =
            req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(',').any(|t| t.trim().trim_start_matches("W/") == self.etag || t.trim() == "*")
            });
        let gzip = !self.gzipped.is_empty() && accepts_gzip(req);
        let mut resp = if matches {
            Response::builder().status(StatusCode::NOT_MODIFIED).finish()
        } else if gzip {
            Response::builder()
                .content_type(self.content_type)
                .header(header::CONTENT_ENCODING, "gzip")
                .body(self.gzipped.clone())
        } else {
            Response::builder().content_type(self.content_type).body(self.body.clone())
        };
        let headers = resp.headers_mut();
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        resp
    }
}

/// Whether `Accept-Encoding` takes gzip (with a non-zero quality).
fn accepts_gzip(req: &Request) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let refused = parts.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
    })
}

impl Endpoint for StaticPage {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        Ok(self.answer(&req))
    }
}

/// Links shown above the rendered docs.
const LINKS: &str = "<div style=\"font:14px sans-serif;padding:8px 16px;background:#f4f4f4\">\
    The OpenAPI document: <a href=\"/openapi.json\">/openapi.json</a> \
    (<a href=\"/openapi.yaml\">YAML</a>) &middot; Swagger UI: <a href=\"/docs\">/docs</a> \
    &middot; ReDoc: <a href=\"/redoc\">/redoc</a></div>";

/// A docs page of poem-openapi (`html`, which embeds poem-openapi's own document `raw`) that
/// shows the final document instead, with links to it and to the other renderer.
/// `container` is the element the renderer draws into; the links go before it.
pub fn page(html: String, raw: &str, document: &str, container: &str) -> StaticPage {
    // The renderer's script comes first in the page; the spec and the container follow it.
    let mut html = match html.rfind(raw) {
        Some(at) => format!("{}{document}{}", &html[..at], &html[at + raw.len()..]),
        None => html,
    };
    if let Some(at) = html.rfind(container) {
        html.insert_str(at, LINKS);
    }
    StaticPage::new(html, "text/html; charset=utf-8")
}
