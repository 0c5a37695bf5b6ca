//! A small JSON client for the API, as a user's program would use it.

use reqwest::Method;
use serde_json::Value;

/// Talks to one platform, optionally as a signed-in user.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// The API's base URL, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// The bearer credential sent with every request.
    pub token: Option<String>,
    /// The username this client signed in as, if any.
    pub username: Option<String>,
}

/// A response: its status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
}

impl Reply {
    /// The body, after checking the status; panics with the body otherwise.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self.body
    }

    /// Checks an error response: its status, and that its body is
    /// `{"error": code, "message": ...}` with a non-empty message. Returns the message.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        assert_eq!(self.body["error"], code, "unexpected error code; body: {}", self.body);
        let message = self.body["message"].as_str().unwrap_or_default().to_owned();
        assert!(!message.is_empty(), "an error needs a message: {}", self.body);
        message
    }
}

impl ApiClient {
    /// A client without credentials.
    pub fn new(base: &str) -> Self {
        Self { http: reqwest::Client::new(), base: base.to_owned(), token: None, username: None }
    }

    /// The same client with another bearer credential.
    pub fn with_token(&self, token: &str) -> Self {
        Self { token: Some(token.to_owned()), ..self.clone() }
    }

    /// Sends a request with an optional JSON body.
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        self.try_request(method, path, body).await.expect("the API answers")
    }

    /// Sends a request; `None` when the server cannot be reached or hangs up.
    pub async fn try_request(&self, method: Method, path: &str, body: Option<&Value>) -> Option<Reply> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Self::try_reply(req).await
    }

    /// Sends raw bytes with a content type, for malformed-input tests.
    pub async fn raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req =
            self.http.request(method, format!("{}{path}", self.base)).header("content-type", content_type);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        Self::reply(req.body(body)).await
    }

    /// Sends a request with an arbitrary `Authorization` header.
    pub async fn get_with_authorization(&self, path: &str, authorization: &str) -> Reply {
        let req = self.http.get(format!("{}{path}", self.base)).header("authorization", authorization);
        Self::reply(req).await
    }

    async fn reply(req: reqwest::RequestBuilder) -> Reply {
        Self::try_reply(req).await.expect("the API answers")
    }

    async fn try_reply(req: reqwest::RequestBuilder) -> Option<Reply> {
        let resp = req.send().await.ok()?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.ok()?;
        Some(Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None).await
    }

    /// `POST` with JSON.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(&body)).await
    }

    /// `PATCH` with JSON.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(&body)).await
    }

    /// `PUT` with JSON.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.request(Method::PUT, path, Some(&body)).await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, None).await
    }

    /// Creates an app and returns its JSON.
    pub async fn create_app(&self, name: &str) -> Value {
        self.post("/v1/apps", serde_json::json!({ "name": name })).await.expect(201)
    }

    /// Sets config vars and returns the new release number.
    pub async fn config_set(&self, app: &str, values: &[(&str, &str)]) -> u64 {
        let values: serde_json::Map<String, Value> =
            values.iter().map(|(k, v)| ((*k).to_owned(), Value::from(*v))).collect();
        let body =
            self.patch(&format!("/v1/apps/{app}/config"), serde_json::json!({ "values": values })).await;
        body.expect(200)["release"].as_u64().expect("a release number")
    }

    /// Sets the quantity of one process type.
    pub async fn scale(&self, app: &str, process_type: &str, quantity: u32) {
        let updates = serde_json::json!({ "updates": [{ "type": process_type, "quantity": quantity }] });
        self.patch(&format!("/v1/apps/{app}/formation"), updates).await.expect(200);
    }

    /// Rolls back to release `version` and returns the new release number.
    pub async fn rollback(&self, app: &str, version: u64) -> u64 {
        let body = serde_json::json!({ "version": version });
        let release = self.post(&format!("/v1/apps/{app}/rollback"), body).await.expect(201);
        release["version"].as_u64().expect("a release number")
    }

    /// Makes an API token and returns its secret (git's password).
    pub async fn token(&self, description: &str) -> String {
        let token =
            self.post("/v1/tokens", serde_json::json!({ "description": description })).await.expect(201);
        token["secret"].as_str().expect("a token secret").to_owned()
    }
}
