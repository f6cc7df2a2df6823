//! The web chat client (`web/`), served at `/` from the directory `web_dir` that
//! `scripts/build-web` fills (default `web/dist`).
//!
//! Registered after the API, `/socket.io/` and the operational endpoints, so those always
//! win; only `GET`/`HEAD` of paths nothing else claims get here. A path is served only if
//! every segment is a plain file name (letters, digits, `.`, `_`, `-`, not starting with a
//! dot): `..`, `%2e%2e`, `%2f`, backslashes and hidden files are refused with 400
//! `invalid_path` before the disk is touched. `index.html` (also at `/`) and other
//! unhashed files are `no-cache` (revalidated by ETag / Last-Modified); everything under
//! `assets/`, whose names carry a content hash, is cached for a year as immutable. When
//! the client is not built, `/` answers a small page that says how to build it.

use std::io;
use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

/// The page that stands in for the client while `web_dir` has no `index.html`.
const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Confab: web client not built</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>Confab is running</h1>
<p>The web client is not built. Build it with <code>scripts/build-web</code> (needs Node.js and npm),
or start the node with <code>./scripts/serve</code>, which builds it first.</p>
<p>The node looks for it in the directory set by <code>CONFAB_WEB_DIR</code> (default <code>web/dist</code>).
The HTTP API (<code>/api/v1</code>) and Socket.IO (<code>/socket.io/</code>) work without it.</p>
</body>
</html>
"#;
/// `Cache-Control` of files whose name does not change with their content.
const REVALIDATE: &str = "no-cache";
/// `Cache-Control` of content-hashed files (`assets/`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The folder of content-hashed files inside `web_dir`.
const HASHED_DIR: &str = "assets";

/// Serves the built web client from one directory.
#[derive(Debug, Clone)]
pub struct WebClient {
    dir: PathBuf,
}

impl WebClient {
    /// A client served from `dir`; logs once when `dir` holds no built client yet (it is
    /// looked up again on every request, so building it later needs no restart).
    pub fn new(dir: &Path) -> Self {
        let client = Self {
            dir: dir.to_path_buf(),
        };
        if client.index().is_file() {
            tracing::info!(dir = %dir.display(), "serving the web client at /");
        } else {
            tracing::warn!(
                dir = %dir.display(),
                "the web client is not built (no index.html): / shows how to build it \
                 (scripts/build-web)"
            );
        }
        client
    }

    /// Registers `GET`/`HEAD` of every path not claimed before; call it after the API.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(web::Data::new(self.clone()))
            .route("/{path:.*}", web::get().to(serve))
            .route("/{path:.*}", web::head().to(serve));
    }

    fn index(&self) -> PathBuf {
        self.dir.join("index.html")
    }
}

/// The file for the request path, with its content type, ETag and cache policy.
async fn serve(client: web::Data<WebClient>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let segments = file_segments(req.path())?;
    let (path, cache) = match segments.as_slice() {
        [] => (client.index(), REVALIDATE),
        [first, ..] if *first == HASHED_DIR => (client.dir.join(segments.join("/")), IMMUTABLE),
        _ => (client.dir.join(segments.join("/")), REVALIDATE),
    };
    let is_index = path == client.index();
    let opened = {
        let path = path.clone();
        web::block(move || NamedFile::open(path))
            .await
            .map_err(ApiError::internal)?
    };
    match opened {
        Ok(file) if file.metadata().is_file() => {
            let mut reply = file.disable_content_disposition().into_response(&req);
            let headers = reply.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            Ok(reply)
        }
        Ok(_) => Err(ApiError::not_found("no such endpoint")),
        Err(error) if error.kind() == io::ErrorKind::NotFound && is_index => Ok(not_built()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Err(ApiError::not_found("no such endpoint"))
        }
        Err(error) => Err(ApiError::internal(format!(
            "reading {}: {error}",
            path.display()
        ))),
    }
}

/// The segments of a request path that may name a file under `web_dir`; anything else
/// (`..`, `.`, percent-escapes, backslashes, hidden names) is `invalid_path`.
fn file_segments(path: &str) -> Result<Vec<&str>, ApiError> {
    let plain = |segment: &str| {
        !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().all(|s| plain(s)) {
        Ok(segments)
    } else {
        Err(ApiError::bad_request(
            "invalid_path",
            "the path does not name a file of the web client",
        ))
    }
}

fn not_built() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, REVALIDATE))
        .body(NOT_BUILT_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_split_into_segments() {
        assert_eq!(file_segments("/").unwrap(), Vec::<&str>::new());
        assert_eq!(
            file_segments("/assets/app-3F2A.js").unwrap(),
            ["assets", "app-3F2A.js"]
        );
        assert_eq!(file_segments("//index.html").unwrap(), ["index.html"]);
    }

    #[test]
    fn traversal_and_escapes_are_refused() {
        for path in [
            "/../etc/passwd",
            "/assets/../../x",
            "/./index.html",
            "/%2e%2e/x",
            "/assets%2f..%2fx",
            "/..\\x",
            "/.env",
            "/a b",
        ] {
            let error = file_segments(path).unwrap_err();
            assert_eq!(error.code, "invalid_path", "{path}");
        }
    }
}
