//! A minimal WebDriver client (W3C protocol over HTTP, reqwest's blocking client) for
//! the dashboard's end-to-end test in real headless Chromium: Debian's `chromium` and
//! `chromium-driver` (`cargo xtask test` installs them). Enough to open pages, fill
//! and submit forms, run a line of script, take a screenshot and read the console.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key of an element reference in WebDriver's JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver`, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it is ready.
    pub fn start() -> Driver {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(program).exists(),
                "{program} is missing: `cargo xtask test` installs the Debian packages chromium and chromium-driver"
            );
        }
        let port = crate::platform::free_addr().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
        let http = client();
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("{}/status", driver.url))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return driver;
            }
            assert!(Instant::now() < give_up, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A new headless browser window of `width` × `height` pixels.
    pub fn session(&self, width: u32, height: u32) -> Session {
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                         "--disable-background-networking", "--disable-component-update",
                         format!("--window-size={width},{height}")],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
            // A click on a form's button navigates: the next `find` waits for the new
            // page's element rather than failing on a loaded machine.
            "timeouts": { "implicit": 20000 },
        }}});
        let http = client();
        let reply: Value = http
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .expect("chromedriver answers")
            .json()
            .expect("JSON");
        let id = reply["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {reply}"));
        Session { http, url: format!("{}/session/{id}", self.url) }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().expect("an HTTP client")
}

/// An element of the page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// One browser window; closed when dropped.
pub struct Session {
    http: reqwest::blocking::Client,
    url: String,
}

impl Session {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let reply: Value = req.send().expect("chromedriver answers").json().expect("JSON");
        if reply["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", reply["value"]);
        }
        reply["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    /// The page's URL.
    pub fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching the CSS selector; panics when there is none.
    #[track_caller]
    pub fn find(&self, css: &str) -> Element {
        let found = self.post("/element", json!({ "using": "css selector", "value": css }));
        Element(found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned())
    }

    /// Clicks an element (a submit button submits its form; the call returns once the
    /// next page has loaded).
    pub fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}));
    }

    /// Empties a text field.
    pub fn clear(&self, element: &Element) {
        self.post(&format!("/element/{}/clear", element.0), json!({}));
    }

    /// Types into a field.
    pub fn type_text(&self, element: &Element, text: &str) {
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text }));
    }

    /// An element's visible text.
    pub fn text(&self, element: &Element) -> String {
        let text = self.call(reqwest::Method::GET, &format!("/element/{}/text", element.0), None);
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (as long as the implicit wait, 20 s) until the page's URL ends with
    /// `suffix`: a click that submits a form returns before the browser has navigated.
    #[track_caller]
    pub fn wait_for_url(&self, suffix: &str) {
        let give_up = Instant::now() + Duration::from_secs(20);
        while !self.current_url().ends_with(suffix) {
            assert!(Instant::now() < give_up, "the page never became …{suffix}: {}", self.describe());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page's URL and the start of its text, for a failing assertion's message.
    pub fn describe(&self) -> String {
        let text = self.script("return document.body ? document.body.innerText.slice(0, 400) : ''");
        format!("{} showing {:?}", self.current_url(), text.as_str().unwrap_or_default())
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let png = self.call(reqwest::Method::GET, "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("base64 PNG")
    }

    /// The browser console's entries since the last call: (level, message).
    pub fn console(&self) -> Vec<(String, String)> {
        let entries = self.post("/se/log", json!({ "type": "browser" }));
        entries
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|e| {
                        let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                        (text("level"), text("message"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.url).send();
    }
}
