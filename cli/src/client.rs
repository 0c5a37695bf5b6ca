//! The REST API client: JSON over HTTP with a bearer token, blocking.
//!
//! Every failure becomes a [`CliError`] a user can act on: the server's `ErrorBody`
//! (message and hint), "cannot reach the paas API at URL", or "log in again" for a
//! rejected token. No message ever contains the token, a password or a response body
//! that is not an `ErrorBody`.

use std::time::Duration;

use reqwest::blocking::{Client as Http, RequestBuilder};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use paas_core::api::ErrorBody;

use crate::error::CliError;
use crate::settings::Secret;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take; config changes restart processes before answering.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A client of one paas API.
pub struct Api {
    http: Http,
    base: String,
    token: Option<Secret>,
    username: Option<String>,
}

impl Api {
    /// A client of the API at `base` (as [`normalize_api_url`] returns it), sending
    /// `token` as a bearer token when there is one.
    pub fn new(base: &str, token: Option<&str>) -> anyhow::Result<Self> {
        let http = http_client(Some(REQUEST_TIMEOUT))?;
        Ok(Self { http, base: base.to_owned(), token: token.map(Secret::new), username: None })
    }

    /// Names the user the token belongs to, for the hint to log in again.
    pub fn as_user(mut self, username: &str) -> Self {
        self.username = Some(username.to_owned());
        self
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1{path}`.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(Method::GET, path, None::<&()>)
    }

    /// `POST /v1{path}` with a JSON body.
    pub fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.send(Method::POST, path, Some(body))
    }

    /// `PATCH /v1{path}` with a JSON body.
    pub fn patch(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Value> {
        self.send(Method::PATCH, path, Some(body))
    }

    /// `PUT /v1{path}` with a JSON body, decoded.
    pub fn put_as<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> anyhow::Result<T> {
        decode(self.send(Method::PUT, path, Some(body))?)
    }

    /// `DELETE /v1{path}`.
    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.send(Method::DELETE, path, None::<&()>).map(drop)
    }

    /// `GET /v1{path}` of a text answer, to read as it comes. An `endless` one (a
    /// followed log) streams on for as long as the server sends, without a time limit.
    pub fn get_text_stream(&self, path: &str, endless: bool) -> anyhow::Result<reqwest::blocking::Response> {
        let endless_http;
        let http = if endless {
            endless_http = http_client(None)?;
            &endless_http
        } else {
            &self.http
        };
        let mut request = http.get(format!("{}/v1{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().map_err(|e| transport_error(e, &self.base))?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().map_err(|e| transport_error(e, &self.base))?;
            return Err(status_error(status, &bytes, &self.base, self.relogin()).into());
        }
        Ok(response)
    }

    /// The hint for a rejected token: log in again.
    fn relogin(&self) -> Option<String> {
        self.token.as_ref().map(|_| {
            format!("run paas login {} --username {}", self.base, self.username.as_deref().unwrap_or("NAME"))
        })
    }

    /// `GET /v1{path}`, decoded.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        decode(self.get(path)?)
    }

    /// `POST /v1{path}`, decoded.
    pub fn post_as<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> anyhow::Result<T> {
        decode(self.post(path, body)?)
    }

    /// `PATCH /v1{path}`, decoded.
    pub fn patch_as<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> anyhow::Result<T> {
        decode(self.patch(path, body)?)
    }

    fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<Value> {
        let mut request: RequestBuilder = self.http.request(method, format!("{}/v1{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().map_err(|e| transport_error(e, &self.base))?;
        let status = response.status();
        let bytes = response.bytes().map_err(|e| transport_error(e, &self.base))?;
        if !status.is_success() {
            return Err(status_error(status, &bytes, &self.base, self.relogin()).into());
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|_| {
            CliError::new(format!(
                "the paas API at {} answered {status} with a body that is not JSON",
                self.base
            ))
            .hint(format!("check that {} is a paas API", self.base))
            .into()
        })
    }
}

/// The HTTP client, with a time limit for each whole request unless `timeout` is `None`.
fn http_client(timeout: Option<Duration>) -> anyhow::Result<Http> {
    Ok(Http::builder()
        .user_agent(concat!("paas-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .build()
        .map_err(|e| CliError::new(format!("cannot start an HTTP client: {e}")))?)
}

/// Decodes an API answer into a wire type. The error never quotes the answer, which
/// may hold config values or a token's secret.
pub fn decode<T: DeserializeOwned>(value: Value) -> anyhow::Result<T> {
    serde_json::from_value(value).map_err(|_| {
        let ty = std::any::type_name::<T>();
        let short = ty.rsplit("::").next().unwrap_or(ty);
        CliError::new(format!("unexpected answer from the paas API: not a {short}"))
            .hint("the controller and this paas may be of different versions")
            .into()
    })
}

/// The error for a request that got no answer.
fn transport_error(e: reqwest::Error, base: &str) -> CliError {
    if e.is_connect() {
        CliError::new(format!("cannot reach the paas API at {base}"))
            .hint("check the URL, your network, and that the paas controller is running")
    } else if e.is_timeout() {
        CliError::new(format!("the paas API at {base} did not answer in time"))
            .hint("try again; if it keeps happening, look at the controller's logs")
    } else {
        let e = e.without_url();
        let mut message = format!("request to the paas API at {base} failed: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        CliError::new(message)
    }
}

/// The error for a non-2xx answer: the server's `ErrorBody`, else the bare status. A
/// 401 to a request that carried a token means the token is no longer good: then
/// `relogin` is the hint.
pub fn status_error(status: StatusCode, body: &[u8], base: &str, relogin: Option<String>) -> CliError {
    let mut err = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(body) => CliError { message: body.message, hint: body.hint },
        Err(_) => CliError::new(format!("the paas API at {base} answered {status}"))
            .hint(format!("check that {base} is a paas API")),
    };
    if status == StatusCode::UNAUTHORIZED && relogin.is_some() {
        err.hint = relogin;
    }
    err
}

/// Checks and normalises the API URL a user typed: `http` or `https`, no user name,
/// password, query or fragment, no trailing slash.
pub fn normalize_api_url(input: &str) -> Result<String, CliError> {
    let bad = |why: &str| {
        CliError::new(format!("invalid API URL: {why}"))
            .hint("pass the API's URL, e.g. https://paas.example.com or http://127.0.0.1:7700")
    };
    let url = Url::parse(input.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("it must start with http:// or https://"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Not repeating the input: it holds a password.
        return Err(bad("it must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it must name a host"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relogin() -> Option<String> {
        Some("run paas login http://x --username alice".into())
    }

    #[test]
    fn api_urls_are_normalised() {
        for (input, want) in [
            ("http://127.0.0.1:7700", "http://127.0.0.1:7700"),
            ("http://127.0.0.1:7700/", "http://127.0.0.1:7700"),
            ("HTTPS://Paas.Example.com", "https://paas.example.com"),
            ("https://example.com/paas/", "https://example.com/paas"),
            (" http://localhost:80 ", "http://localhost"),
        ] {
            assert_eq!(normalize_api_url(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn bad_api_urls_are_refused_without_echoing_secrets() {
        for input in [
            "",
            "paas.example.com",
            "ftp://paas.example.com",
            "http://alice:hunter2@paas.example.com",
            "http://paas.example.com/?x=1",
        ] {
            let err = normalize_api_url(input).unwrap_err();
            assert!(err.hint.is_some());
            assert!(!err.message.contains("hunter2"), "{}", err.message);
        }
    }

    #[test]
    fn server_errors_keep_message_and_hint() {
        let body = br#"{"error":"not_found","message":"no app named hello","hint":"run paas apps"}"#;
        let err = status_error(StatusCode::NOT_FOUND, body, "http://x", relogin());
        assert_eq!(err.message, "no app named hello");
        assert_eq!(err.hint.as_deref(), Some("run paas apps"));
    }

    #[test]
    fn a_rejected_token_means_log_in_again() {
        let body = br#"{"error":"unauthenticated","message":"token expired"}"#;
        let err = status_error(StatusCode::UNAUTHORIZED, body, "http://x", relogin());
        assert_eq!(err.message, "token expired");
        assert_eq!(err.hint.as_deref(), Some("run paas login http://x --username alice"));
        // A failed login keeps the server's own words.
        let body = br#"{"error":"unauthenticated","message":"wrong username or password"}"#;
        let err = status_error(StatusCode::UNAUTHORIZED, body, "http://x", None);
        assert_eq!(err.hint, None);
    }

    #[test]
    fn other_bodies_are_not_shown() {
        let err = status_error(StatusCode::BAD_GATEWAY, b"<html>secret</html>", "http://x", relogin());
        assert_eq!(err.message, "the paas API at http://x answered 502 Bad Gateway");
        assert!(!err.message.contains("secret"));
    }

    #[test]
    fn decode_errors_do_not_quote_the_answer() {
        let value = serde_json::json!({"release": "hunter2", "values": {}});
        let err = decode::<paas_core::api::Config>(value).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("not a Config"), "{text}");
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn nothing_listens_means_cannot_reach() {
        // Bind and drop to find a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let err = Api::new(&base, Some("tok")).unwrap().get("/apps").unwrap_err();
        let err = err.downcast_ref::<CliError>().unwrap();
        assert_eq!(err.message, format!("cannot reach the paas API at {base}"));
        assert!(err.hint.is_some());
    }
}
