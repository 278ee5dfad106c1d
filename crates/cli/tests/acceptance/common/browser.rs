//! A real browser for page tests: Debian's Chromium, headless, driven over the W3C WebDriver
//! protocol by Debian's ChromeDriver, with a few Chrome DevTools commands passed through it
//! (ChromeDriver's `goog/cdp/execute`) to install a test wallet before any page script runs.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use wcheckout_testkit::free_port;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C key for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    profile: wcheckout_testkit::TempDir,
}

/// Longest the browser's processes may take to be gone once killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Drop for Browser {
    /// Runs on every path, a failed assertion's unwinding included. Killing ChromeDriver does
    /// not end the Chromium it started (re-parented to init, it goes on writing to its profile),
    /// so every process started with this browser's profile directory, which no other has, is
    /// killed too, until none runs; the directory is removed after this, when `profile` drops.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let profile = self.profile.path.display().to_string();
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        loop {
            let running = processes_naming(&profile);
            if running.is_empty() || std::time::Instant::now() >= deadline {
                return;
            }
            for pid in running {
                // Never panics: this is `Drop`. A process already gone is no matter.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid])
                    .stderr(Stdio::null())
                    .status();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The ids of the running processes whose command line contains `text` (zombies, which a
/// parent may never reap here, have closed their files and are left out).
fn processes_naming(text: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let path = entry.path();
            let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // `pid (comm) state …`: the command name may hold spaces and parentheses.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            state.is_some_and(|s| s != "Z") && String::from_utf8_lossy(&cmdline).contains(text)
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Whether the browser tests can run here. On a machine without Chromium they are skipped
/// with a message, unless `WCHECKOUT_REQUIRE_BROWSER=1` (CI) makes that a failure.
pub fn available() -> bool {
    let present =
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("WCHECKOUT_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "WCHECKOUT_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED: browser test needs {CHROMIUM} and {CHROMEDRIVER} \
             (apt-get install chromium chromium-driver)"
        );
    }
    present
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium with a `width`×`height` window.
    pub async fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let profile = wcheckout_testkit::TempDir::new();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            profile,
        };
        browser.wait_ready().await;
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser.profile.path.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let session = browser.call("POST", "/session", capabilities).await;
        let id = session["sessionId"].as_str().expect("a session id");
        browser.base = format!("{}/session/{id}", browser.base);
        // Desktop windows have a minimum width; a phone's screen is emulated instead.
        let metrics = json!({"width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": width < 500});
        browser
            .cdp("Emulation.setDeviceMetricsOverride", metrics)
            .await;
        browser
    }

    async fn wait_ready(&self) {
        for _ in 0..100 {
            let status = self.http.get(format!("{}/status", self.base)).send().await;
            if let Ok(response) = status {
                let body: Value = response.json().await.unwrap_or_default();
                if body["value"]["ready"] == true {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready");
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        let value = response["value"].clone();
        assert!(
            value.get("error").is_none(),
            "WebDriver {method} {path}: {value}"
        );
        value
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// A Chrome DevTools command.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": command, "params": params}),
        )
        .await
    }

    /// Installs `script` in every document before the page's own scripts run, as a wallet
    /// extension does. The page's policy allows connections to its own server only, so the
    /// test wallet, which talks to anvil directly, runs with that policy bypassed (an extension
    /// is not bound by it either).
    pub async fn install_before_load(&self, script: &str) {
        self.cdp("Page.setBypassCSP", json!({"enabled": true}))
            .await;
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": script}),
        )
        .await;
    }

    pub async fn open(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url})).await;
    }

    /// The text content of the element with `id` (empty when absent).
    pub async fn text(&self, id: &str) -> String {
        let value = self
            .eval(
                "const e = document.getElementById(arguments[0]); return e ? e.textContent.trim() : '';",
                json!([id]),
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Whether the element with `id` is shown (present, not `hidden`, laid out).
    pub async fn visible(&self, id: &str) -> bool {
        let script = "const e = document.getElementById(arguments[0]);
            return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;";
        self.eval(script, json!([id])).await == true
    }

    /// Waits up to `wait` for the page's card to be in `state`.
    pub async fn wait_state(&self, state: &str, wait: Duration) {
        super::chain::eventually(wait, &format!("page state {state}"), || async {
            (self.state().await == state).then_some(())
        })
        .await;
    }

    /// The address `#address` shows, and whether any of it is cut off: its box scrolls, or
    /// reaches past the window.
    pub async fn shown_address(&self) -> (String, bool) {
        let script = "const e = document.getElementById('address');
            const box = e.getBoundingClientRect();
            const clipped = e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight
                || box.left < 0 || box.right > document.documentElement.clientWidth;
            return [e.textContent.trim(), clipped];";
        let found = self.eval(script, json!([])).await;
        (
            found[0].as_str().unwrap_or_default().to_owned(),
            found[1] == true,
        )
    }

    /// `data-state` of the page's card.
    pub async fn state(&self) -> String {
        let value = self
            .eval(
                "return document.querySelector('main.card').getAttribute('data-state');",
                json!([]),
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("element {css}: {found}"))
            .to_owned()
    }

    /// A real click on the element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call("POST", &format!("/element/{element}/click"), json!({}))
            .await;
    }

    /// Types `text` into the element matching `css`, as a user would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// Presses Tab and returns the id of the element that has the focus then.
    pub async fn tab(&self) -> String {
        let keys = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": "\u{E004}"}, {"type": "keyUp", "value": "\u{E004}"}
        ]}]});
        self.call("POST", "/actions", keys).await;
        let value = self
            .eval(
                "const e = document.activeElement; return e.id || e.className || e.tagName;",
                json!([]),
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// A PNG of the element matching `css`.
    pub async fn element_png(&self, css: &str) -> Vec<u8> {
        let element = self.element(css).await;
        let data = self
            .call("GET", &format!("/element/{element}/screenshot"), json!({}))
            .await;
        decode_png_base64(&data)
    }

    /// A PNG of the whole page, however long (DevTools, beyond the window's height).
    pub async fn full_page_png(&self) -> Vec<u8> {
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        decode_png_base64(&shot["data"])
    }
}

fn decode_png_base64(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().unwrap())
        .unwrap()
}

/// The text of the QR code in a PNG.
pub fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut buffer).unwrap();
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let pixels = &buffer[..frame.buffer_size()];
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let at = (y * width + x) * channels;
        // Any colour channel will do: the code is black on white.
        pixels[at]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the picture");
    grids[0].decode().unwrap().1
}
