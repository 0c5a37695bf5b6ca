//! The dashboard end to end in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver): a whole platform with Docker, an app
//! deployed with `git push`, and a person at the browser who signs in through the
//! router at `paas.localhost`, opens the app, scales `web` to 2 with the form and sees
//! two processes, rolls back with the button and sees the new release on top, reveals
//! a config value and signs out. A screenshot of the app page is saved under
//! `target/dashboard/`; any error in the browser's console fails the test.

use paas_tests::checkout::{Checkout, ImageCleanup};
use paas_tests::deployer::Deployer;
use paas_tests::docker::DockerCleanup;
use paas_tests::webdriver::{Driver, Session};
use paas_tests::PASSWORD;
use serde_json::Value;

const APP_PY: &str = r#"import http.server, os
class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("%s\n" % os.environ.get("GREETING", "hello")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
print("listening on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("", int(os.environ["PORT"])), App).serve_forever()
"#;

/// Polls `check` on the page every half second for up to three minutes (a loaded
/// machine's limit, not a measure of speed), reloading it in between.
fn eventually_on_page(browser: &Session, url: &str, what: &str, check: impl Fn(&Session) -> bool) {
    for _ in 0..360 {
        if check(browser) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        browser.goto(url);
    }
    panic!("never happened: {what}");
}

/// Console entries at level SEVERE (errors), which fail the test.
fn console_errors(browser: &Session, errors: &mut Vec<String>) {
    errors.extend(browser.console().into_iter().filter(|(level, _)| level == "SEVERE").map(|(_, m)| m));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_scales_rolls_back_and_reveals_config_in_the_browser() {
    let d = Deployer::start_with(|_| {}).await;
    let app = "dashhello";
    let _images = ImageCleanup::new(app);
    let _containers = DockerCleanup::new(&d.platform.platform_id());
    d.admin.create_app(app).await;
    let checkout = Checkout::new(&[("app.py", APP_PY), ("Procfile", "web: python3 app.py\n")]);
    d.push(&checkout, app).assert_success().assert_contains("remote: -----> Released v2");
    d.web_up(app, 1).await;
    assert_eq!(d.admin.config_set(app, &[("GREETING", "bonjour")]).await, 3);
    d.succeeded(app, 3).await;

    let base = format!("http://paas.localhost:{}", d.platform.router_addr().port());
    let screenshot_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/dashboard");
    std::fs::create_dir_all(&screenshot_dir).expect("target/dashboard");
    let app_url = format!("{base}/dashboard/apps/{app}");

    tokio::task::block_in_place(|| {
        let driver = Driver::start();
        let browser = driver.session(1280, 1800);
        let mut errors = Vec::new();

        // Sign in.
        browser.goto(&format!("{base}/dashboard/apps"));
        assert!(browser.current_url().ends_with("/dashboard/sign-in"), "{}", browser.describe());
        browser.type_text(&browser.find("#username"), "admin");
        browser.type_text(&browser.find("#password"), PASSWORD);
        browser.click(&browser.find(".sign-in button[type=submit]"));
        browser.wait_for_url("/dashboard/apps");
        console_errors(&browser, &mut errors);

        // Open the deployed app.
        browser.click(&browser.find(&format!("a.app-name[href='/dashboard/apps/{app}']")));
        browser.wait_for_url(&format!("/dashboard/apps/{app}"));
        assert_eq!(browser.text(&browser.find("#current-release")), "v3");

        // Scale web to 2 with the form, and see two processes.
        let quantity = browser.find("#scale-web");
        browser.clear(&quantity);
        browser.type_text(&quantity, "2");
        browser.click(&browser.find("form.scale button[type=submit]"));
        let web_up = "return document.querySelectorAll('tr.process[data-type=web] .state-up').length";
        eventually_on_page(&browser, &app_url, "two web processes up", |b| {
            b.script(web_up) == 2
                && b.script("return document.querySelectorAll('tr.process[data-type=web]').length") == 2
        });
        console_errors(&browser, &mut errors);

        // Roll back with the button (to v2), and see the new release on top.
        browser.click(&browser.find("li.release[data-version='2'] button.rollback"));
        let top = "return document.querySelector('li.release').getAttribute('data-version')";
        // The click posts the form; the page after its redirect shows the new release.
        eventually_on_page(&browser, &app_url, "the rollback's release on top", |b| b.script(top) == "4");
        let summary = browser.text(&browser.find("li.release .summary"));
        assert_eq!(summary, "Rollback to v2");
        console_errors(&browser, &mut errors);

        // Reveal a config value. v4 has v2's config: none; v3's is on the API. Set one
        // more, then reveal it.
        tokio::runtime::Handle::current().block_on(d.admin.config_set(app, &[("SECRET", "s3cret-value")]));
        browser.goto(&app_url);
        assert!(!browser
            .script("return document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .contains("s3cret-value"));
        browser.click(&browser.find("button[aria-label='Reveal SECRET']"));
        assert_eq!(browser.text(&browser.find(".config-var code.value")), "s3cret-value");
        console_errors(&browser, &mut errors);

        // The app page, as a person sees it.
        browser.goto(&app_url);
        std::thread::sleep(std::time::Duration::from_secs(1)); // the live tail's first lines
        let png = browser.screenshot();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(screenshot_dir.join("app.png"), png).expect("the screenshot is saved");
        // At phone width, too.
        let phone = driver.session(390, 1600);
        phone.goto(&format!("{base}/dashboard/sign-in"));
        phone.type_text(&phone.find("#username"), "admin");
        phone.type_text(&phone.find("#password"), PASSWORD);
        phone.click(&phone.find(".sign-in button[type=submit]"));
        phone.wait_for_url("/dashboard/apps");
        phone.goto(&app_url);
        let overflow = phone.script("return document.documentElement.scrollWidth <= window.innerWidth + 1");
        assert_eq!(overflow, Value::Bool(true), "no sideways scrolling at phone width");
        std::fs::write(screenshot_dir.join("app-phone.png"), phone.screenshot()).expect("saved");
        console_errors(&phone, &mut errors);
        drop(phone);

        // Sign out.
        browser.click(&browser.find("form.sign-out button"));
        browser.wait_for_url("/dashboard/sign-in");
        browser.goto(&app_url);
        assert!(
            browser.current_url().ends_with("/dashboard/sign-in"),
            "signed out: {}",
            browser.current_url()
        );
        console_errors(&browser, &mut errors);
        assert!(errors.is_empty(), "the browser's console has errors: {errors:#?}");
    });
    // Stopped before the guards remove its containers and images, so that its scheduler
    // does not start the app again (and pull its image back) meanwhile.
    d.platform.stop().await.expect("paasd stops cleanly");
}
