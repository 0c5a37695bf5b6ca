//! A browser's view of the dashboard, for page tests: a cookie jar, no automatic
//! redirects (tests look at them), forms posted as a browser posts them, and the CSRF
//! token read from the page like a browser's form would carry it.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One browser session against a platform's dashboard.
pub struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Mutex<BTreeMap<String, String>>,
    /// Extra headers sent with every request (e.g. `X-Forwarded-Proto`).
    pub headers: Vec<(String, String)>,
}

/// A response as the browser got it.
#[derive(Debug, Clone)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// The `Location` of a redirect.
    pub location: Option<String>,
    /// Every `Set-Cookie` header, as sent.
    pub set_cookies: Vec<String>,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Security-Policy`.
    pub csp: String,
    /// The body as text.
    pub body: String,
}

impl Page {
    /// The body, after checking the status; panics with the body otherwise.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "unexpected status; body:\n{}", self.body);
        &self.body
    }

    /// Checks that the page redirects to `path`.
    #[track_caller]
    pub fn expect_redirect(&self, path: &str) {
        assert_eq!(self.status, 303, "expected a redirect to {path}; body:\n{}", self.body);
        assert_eq!(self.location.as_deref(), Some(path));
    }

    /// The CSRF token of the page's first form.
    #[track_caller]
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("the page has a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("a closed attribute") + start;
        self.body[start..end].to_owned()
    }

    /// The `Set-Cookie` header for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies.iter().map(String::as_str).find(|c| c.starts_with(&format!("{name}=")))
    }

    /// Whether the body contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.body.contains(text)
    }
}

impl Browser {
    /// A browser with no cookies, for the platform at `base`.
    pub fn new(base: &str) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Browser { http, base: base.to_owned(), cookies: Mutex::new(BTreeMap::new()), headers: Vec::new() }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(self.url(path))).await
    }

    /// `POST path` with the form `fields`.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send(self.http.post(self.url(path)).form(fields)).await
    }

    /// Opens the sign-in page and signs in; returns the answer to the form.
    pub async fn sign_in(&self, username: &str, password: &str) -> Page {
        let form = self.get("/dashboard/sign-in").await;
        let csrf = form.csrf();
        self.post("/dashboard/sign-in", &[("username", username), ("password", password), ("csrf", &csrf)])
            .await
    }

    /// Signs in and checks that it worked.
    pub async fn signed_in(base: &str, username: &str) -> Browser {
        let browser = Browser::new(base);
        browser.sign_in(username, crate::PASSWORD).await.expect_redirect("/dashboard/apps");
        browser
    }

    /// The CSRF token of the signed-in session's forms (from the apps page).
    pub async fn csrf(&self) -> String {
        self.get("/dashboard/apps").await.csrf()
    }

    /// Whether the jar holds cookie `name`.
    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.lock().expect("the jar").contains_key(name)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, mut req: reqwest::RequestBuilder) -> Page {
        let jar: Vec<String> =
            self.cookies.lock().expect("the jar").iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !jar.is_empty() {
            req = req.header("cookie", jar.join("; "));
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        let resp = req.send().await.expect("the dashboard answers");
        let header = |name: &str| {
            resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        let (content_type, csp) = (header("content-type"), header("content-security-policy"));
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let set_cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        self.remember(&set_cookies);
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Page { status, location, set_cookies, content_type, csp, body }
    }

    /// Keeps or drops cookies as a browser does (`Max-Age=0` removes).
    fn remember(&self, set_cookies: &[String]) {
        let mut jar = self.cookies.lock().expect("the jar");
        for header in set_cookies {
            let Some((pair, attributes)) = header.split_once(';').or(Some((header.as_str(), ""))) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else { continue };
            if value.is_empty() || attributes.contains("Max-Age=0") {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }
}
