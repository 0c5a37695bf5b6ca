//! Posts to the controller that follows the feed: JSON bodies to its internal paths,
//! with the feed's token, on pooled connections. The access shipper and the feed's
//! acknowledgements both use it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::http::HeaderValue;
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::FeedConfig;
use crate::error::ErrorChain;

/// How long a post may take, answer included.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to the controller may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The controller at the feed's address.
#[derive(Clone)]
pub(crate) struct Controller {
    client: Client<HttpConnector, Full<Bytes>>,
    authority: hyper::http::uri::Authority,
    host: HeaderValue,
    token: Option<HeaderValue>,
}

/// Why a post did not go through: said in one line, without the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PostError {
    /// No answer, or a broken one.
    #[error("{0}")]
    Unreachable(String),
    /// The controller answered, but not with a success.
    #[error("the controller answered {0}")]
    Status(hyper::StatusCode),
}

impl Controller {
    /// The controller serving `feed`.
    pub fn new(feed: &FeedConfig) -> Self {
        let authority = feed.url.authority().clone();
        let host = HeaderValue::from_str(authority.as_str()).expect("an authority is a header value");
        let token = feed.token.as_ref().map(|t| t.header().clone());
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        Self { client: Client::builder(TokioExecutor::new()).build(connector), authority, host, token }
    }

    /// Posts the JSON `body` to `path` and reads the answer to its end.
    pub async fn post_json(&self, path: &'static str, body: Vec<u8>) -> Result<(), PostError> {
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .expect("an authority and a path make a URI");
        let mut request = Request::post(uri)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("a valid request");
        if let Some(token) = &self.token {
            request.headers_mut().insert(AUTHORIZATION, token.clone());
        }
        tokio::time::timeout(POST_TIMEOUT, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| PostError::Unreachable(ErrorChain(&e).to_string()))?;
            let status = response.status();
            // Read the answer to the end so that the connection goes back to the pool.
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(PostError::Status(status))
            }
        })
        .await
        .unwrap_or_else(|_| Err(PostError::Unreachable("the controller took too long".into())))
    }
}
