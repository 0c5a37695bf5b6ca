//! `paas tls:enforce`: for an app that turned it on, a request over plain HTTP is
//! answered with a 308 to the same path on `https://`, and every HTTPS answer carries
//! `Strict-Transport-Security`. Only a router with an HTTPS listener redirects.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderValue, CACHE_CONTROL, LOCATION, STRICT_TRANSPORT_SECURITY};
use hyper::http::uri::PathAndQuery;
use hyper::{Response, StatusCode};

use crate::proxy::ProxyBody;

/// The HSTS policy: a year, this host only.
pub(crate) const HSTS: &str = "max-age=31536000";

/// Where a plain request for `host` goes instead: `https://host[:port]/path?query`
/// (the port left out when it is 443). `None` when that makes no URL.
pub(crate) fn https_location(
    host: &str,
    https_port: u16,
    target: Option<&PathAndQuery>,
) -> Option<HeaderValue> {
    let host = match host.contains(':') {
        true => format!("[{host}]"),
        false => host.to_owned(),
    };
    let port = match https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = target.map_or("/", |pq| pq.as_str());
    HeaderValue::from_str(&format!("https://{host}{port}{path}")).ok()
}

/// A 308 to `location`.
pub(crate) fn redirect(location: HeaderValue) -> Response<ProxyBody> {
    let mut response = Response::new(Empty::<Bytes>::new().map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response.headers_mut().insert(LOCATION, location);
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `response` with the HSTS header (replacing the app's own).
pub(crate) fn with_hsts(mut response: Response<ProxyBody>) -> Response<ProxyBody> {
    response.headers_mut().insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_keep_the_path_and_query_and_name_the_port() {
        let pq = PathAndQuery::from_static("/a/b?c=d");
        assert_eq!(
            https_location("shop.example.com", 8443, Some(&pq)).unwrap(),
            "https://shop.example.com:8443/a/b?c=d"
        );
        assert_eq!(https_location("shop.example.com", 443, None).unwrap(), "https://shop.example.com/");
        assert_eq!(https_location("::1", 443, None).unwrap(), "https://[::1]/");
        let response = redirect(https_location("a.localhost", 443, Some(&pq)).unwrap());
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(response.headers()[LOCATION], "https://a.localhost/a/b?c=d");
        assert_eq!(with_hsts(response).headers()[STRICT_TRANSPORT_SECURITY], HSTS);
    }
}
