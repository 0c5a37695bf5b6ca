//! One HTTP request: route it, check the credentials, and answer with the ref
//! advertisement, a push's report, or a plain-text error git shows as `remote: ...`.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use paas_core::AppName;

use crate::auth::{Access, Credentials};
use crate::body::ResponseBody;
use crate::error::ErrorChain;
use crate::{protocol, receive, Shared};

/// What the path asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    InfoRefs(AppName),
    ReceivePack(AppName),
    UploadPack,
    NotFound,
}

fn route(method: &Method, path: &str, query: Option<&str>) -> Route {
    let path = path.strip_prefix('/').unwrap_or(path);
    let Some((repo, rest)) = path.split_once('/') else {
        return Route::NotFound;
    };
    let app = repo.strip_suffix(".git").unwrap_or(repo);
    let service = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("service=")));
    let parsed = AppName::parse(app).ok();
    match (method, rest, service) {
        (&Method::GET, "info/refs", Some("git-upload-pack")) => Route::UploadPack,
        (&Method::POST, "git-upload-pack", _) => Route::UploadPack,
        (&Method::GET, "info/refs", Some("git-receive-pack")) => {
            parsed.map_or(Route::NotFound, Route::InfoRefs)
        }
        (&Method::POST, "git-receive-pack", _) => parsed.map_or(Route::NotFound, Route::ReceivePack),
        _ => Route::NotFound,
    }
}

/// A plain-text answer; git prints its lines as `remote: ...`.
pub(crate) fn text(status: StatusCode, message: &str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::from(format!("{message}\n")));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    no_cache(&mut response);
    response
}

pub(crate) fn no_cache(response: &mut Response<ResponseBody>) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, max-age=0, must-revalidate"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("Fri, 01 Jan 1980 00:00:00 GMT"));
}

fn unauthorized() -> Response<ResponseBody> {
    let mut response =
        text(StatusCode::UNAUTHORIZED, "Authentication required: the password is a paas API token.");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"paas\""));
    response
}

fn not_found(app: &AppName) -> Response<ResponseBody> {
    text(
        StatusCode::NOT_FOUND,
        &format!("App '{app}' not found, or you may not push to it. Check the name with `paas apps`."),
    )
}

/// Answers one request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let route = route(req.method(), req.uri().path(), req.uri().query());
    let app = match route {
        Route::NotFound => return text(StatusCode::NOT_FOUND, "Not found: push to /<app>.git"),
        Route::UploadPack => {
            return text(
                StatusCode::FORBIDDEN,
                "paas deploys what you push; fetching and cloning from it are not supported.",
            )
        }
        Route::InfoRefs(ref app) | Route::ReceivePack(ref app) => app.clone(),
    };
    let Some(credentials) =
        req.headers().get(header::AUTHORIZATION).and_then(|v| Credentials::from_header(v.as_bytes()))
    else {
        return unauthorized();
    };
    let pusher = match shared.authorizer.authorize(&credentials, &app).await {
        Ok(Access::Allowed { pusher }) => pusher,
        Ok(Access::Denied) => {
            tracing::info!(user = %credentials.username, %app, "push refused: bad credentials");
            return unauthorized();
        }
        Ok(Access::UnknownApp) => {
            tracing::info!(user = %credentials.username, %app, "push refused: unknown app or not allowed");
            return not_found(&app);
        }
        Err(e) => {
            tracing::warn!(%app, error = %ErrorChain(&e), "cannot authorize a push");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot check your credentials right now; try again.",
            );
        }
    };
    match route {
        Route::InfoRefs(app) => advertise(&shared, app).await,
        Route::ReceivePack(app) => receive::receive(shared, app, pusher, req).await,
        Route::UploadPack | Route::NotFound => text(StatusCode::NOT_FOUND, "Not found"),
    }
}

async fn advertise(shared: &Arc<Shared>, app: AppName) -> Response<ResponseBody> {
    let shared2 = shared.clone();
    let refs = tokio::task::spawn_blocking(move || shared2.repos.refs(&app)).await;
    let refs = match refs {
        Ok(Ok(refs)) => refs,
        Ok(Err(e)) => {
            tracing::error!(error = %ErrorChain(&e), "cannot read the app's refs");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "The app's repository cannot be read.");
        }
        Err(e) => {
            tracing::error!(error = %e, "the ref listing task failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "The app's repository cannot be read.");
        }
    };
    let mut response = Response::new(ResponseBody::from(protocol::advertisement(&refs)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-git-receive-pack-advertisement"),
    );
    no_cache(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let app = || AppName::parse("hello").unwrap();
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            route(&get, "/hello.git/info/refs", Some("service=git-receive-pack")),
            Route::InfoRefs(app())
        );
        assert_eq!(route(&get, "/hello/info/refs", Some("service=git-receive-pack")), Route::InfoRefs(app()));
        assert_eq!(route(&post, "/hello.git/git-receive-pack", None), Route::ReceivePack(app()));
        assert_eq!(route(&get, "/hello.git/info/refs", Some("service=git-upload-pack")), Route::UploadPack);
        assert_eq!(route(&post, "/hello.git/git-upload-pack", None), Route::UploadPack);
        assert_eq!(route(&get, "/hello.git/info/refs", None), Route::NotFound);
        assert_eq!(route(&get, "/Bad!.git/info/refs", Some("service=git-receive-pack")), Route::NotFound);
        assert_eq!(route(&get, "/", None), Route::NotFound);
    }
}
