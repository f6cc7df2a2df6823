//! CORS for the Engine.IO route, as the reference server's `cors` middleware answers:
//! `*` for any origin when allowed without credentials (on every response, whether or not
//! the request has an `Origin`), the origin itself when it is listed, and preflights
//! answered with the methods and the requested headers echoed.

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use super::EngineConfig;

/// The methods a preflight allows (the `cors` package's default).
const ALLOWED_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE";

/// Adds the CORS headers the configuration allows for this request.
pub(super) fn add_cors(req: &HttpRequest, config: &EngineConfig, response: &mut HttpResponse) {
    let Some(allow_origin) = allowed_origin(req, config) else {
        return;
    };
    let reflected = allow_origin != "*";
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    if reflected {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if config.cors_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if req.method() == Method::OPTIONS {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.append(
            header::VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
    }
}

/// The `Access-Control-Allow-Origin` value for this request, if any.
fn allowed_origin(req: &HttpRequest, config: &EngineConfig) -> Option<HeaderValue> {
    let any = config.cors_origins.iter().any(|allowed| allowed == "*");
    if any && !config.cors_credentials {
        return Some(HeaderValue::from_static("*"));
    }
    let origin = req.headers().get(header::ORIGIN)?;
    let listed = origin
        .to_str()
        .is_ok_and(|origin| config.cors_origins.iter().any(|allowed| allowed == origin));
    (any || listed).then(|| origin.clone())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn config(origins: &[&str], credentials: bool) -> EngineConfig {
        EngineConfig {
            cors_origins: origins.iter().map(|origin| (*origin).to_owned()).collect(),
            cors_credentials: credentials,
            ..EngineConfig::default()
        }
    }

    fn headers(req: TestRequest, config: &EngineConfig) -> Vec<(String, String)> {
        let req = req.to_http_request();
        let mut response = HttpResponse::Ok().finish();
        add_cors(&req, config, &mut response);
        let mut headers: Vec<_> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        headers
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn any_origin_gets_a_star_even_without_an_origin_header() {
        let any = config(&["*"], false);
        let star = pairs(&[("access-control-allow-origin", "*")]);
        assert_eq!(headers(TestRequest::get(), &any), star);
        let from_app = TestRequest::get().insert_header((header::ORIGIN, "http://a.example"));
        assert_eq!(headers(from_app, &any), star);
    }

    #[test]
    fn a_preflight_echoes_the_requested_headers_and_varies_on_them() {
        let preflight = TestRequest::default()
            .method(Method::OPTIONS)
            .insert_header((header::ORIGIN, "http://a.example"))
            .insert_header((header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type"));
        assert_eq!(
            headers(preflight, &config(&["*"], false)),
            pairs(&[
                ("access-control-allow-headers", "content-type"),
                ("access-control-allow-methods", ALLOWED_METHODS),
                ("access-control-allow-origin", "*"),
                ("vary", "Access-Control-Request-Headers"),
            ])
        );
    }

    #[test]
    fn a_listed_origin_is_reflected_and_others_get_nothing() {
        let listed = config(&["http://a.example"], true);
        let from_a = TestRequest::get().insert_header((header::ORIGIN, "http://a.example"));
        assert_eq!(
            headers(from_a, &listed),
            pairs(&[
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-origin", "http://a.example"),
                ("vary", "Origin"),
            ])
        );
        let from_b = TestRequest::get().insert_header((header::ORIGIN, "http://b.example"));
        assert!(headers(from_b, &listed).is_empty());
        assert!(headers(TestRequest::get(), &config(&[], false)).is_empty());
    }
}
