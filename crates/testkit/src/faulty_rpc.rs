//! A fault-injecting HTTP JSON-RPC proxy for tests: it listens on loopback, forwards each
//! request to a loopback upstream (an anvil node) and, as its seeded dice decide, answers late
//! (a random delay in a range) or never (the connection is held without an answer, then
//! closed). Half the dropped requests reach the node before their answer is lost, half never
//! do, as on a real lossy link where a client cannot tell which happened.
//!
//! The dice are rolled in the order requests arrive, so one seed gives the same sequence of
//! faults; under concurrency which request gets which fault may differ between runs. Every
//! connection is bounded: at most `MAX_CONNECTIONS` at once, a dropped one held at most
//! `Faults::hang`, and the proxy stops when dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// Largest request read (a JSON-RPC batch of block headers is far smaller).
const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// What goes wrong, in thousandths of requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Requests answered late, per mille.
    pub delay_per_mille: u32,
    /// The shortest and longest delay (uniform in between).
    pub delay: (Duration, Duration),
    /// Requests never answered, per mille.
    pub drop_per_mille: u32,
    /// How long a dropped request's connection is held before it is closed (the client
    /// usually gives up first).
    pub hang: Duration,
}

impl Faults {
    /// A faithful proxy.
    pub const NONE: Faults = Faults {
        delay_per_mille: 0,
        delay: (Duration::ZERO, Duration::ZERO),
        drop_per_mille: 0,
        hang: Duration::ZERO,
    };

    /// The lossy endpoint of the hardening issue: 30% of answers 0.3–4 s late, 7% dropped.
    pub const LOSSY: Faults = Faults {
        delay_per_mille: 300,
        delay: (Duration::from_millis(300), Duration::from_millis(4000)),
        drop_per_mille: 70,
        hang: Duration::from_secs(20),
    };
}

/// What the proxy has seen so far.
#[derive(Clone, Debug, Default)]
pub struct FaultStats {
    /// HTTP requests received.
    pub requests: u64,
    /// Answered late.
    pub delayed: u64,
    /// Never answered (whether or not they reached the node).
    pub dropped: u64,
    /// JSON-RPC calls by method (a batch counts each of its calls).
    pub methods: BTreeMap<String, u64>,
    /// When each `eth_sendRawTransaction` arrived, from the proxy's start.
    pub sends: Vec<Duration>,
}

/// What one request gets.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Pass,
    Delay(Duration),
    /// Dropped; `true` when the node still gets the request.
    Drop(bool),
}

struct Shared {
    upstream: String,
    faults: Mutex<Faults>,
    dice: Mutex<StdRng>,
    stats: Mutex<FaultStats>,
    started: Instant,
    http: reqwest::Client,
}

impl Shared {
    fn roll(&self) -> Fate {
        let faults = *self.faults.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dice = self.dice.lock().unwrap_or_else(PoisonError::into_inner);
        let roll = dice.gen_range(0..1000u32);
        if roll < faults.drop_per_mille {
            return Fate::Drop(dice.gen_bool(0.5));
        }
        if roll < faults.drop_per_mille.saturating_add(faults.delay_per_mille) {
            let (low, high) = faults.delay;
            let span = u64::try_from(high.saturating_sub(low).as_millis()).unwrap_or(0);
            return Fate::Delay(low + Duration::from_millis(dice.gen_range(0..=span)));
        }
        Fate::Pass
    }

    fn note(&self, body: &[u8], fate: Fate) {
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        stats.requests += 1;
        match fate {
            Fate::Pass => {}
            Fate::Delay(_) => stats.delayed += 1,
            Fate::Drop(_) => stats.dropped += 1,
        }
        let calls = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Array(calls)) => calls,
            Ok(call) => vec![call],
            Err(_) => Vec::new(),
        };
        for call in calls {
            let method = call["method"].as_str().unwrap_or("?").to_owned();
            if method == "eth_sendRawTransaction" {
                let at = self.started.elapsed();
                stats.sends.push(at);
            }
            *stats.methods.entry(method).or_default() += 1;
        }
    }

    async fn forward(&self, body: Vec<u8>) -> Option<(u16, Vec<u8>)> {
        let response = self
            .http
            .post(&self.upstream)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.ok()?;
        Some((status, bytes.to_vec()))
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultyRpc {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultyRpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_loopback_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host,
    };
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl FaultyRpc {
    /// A proxy on a free loopback port in front of `upstream` (an `http://` loopback URL),
    /// its dice seeded with `seed`.
    pub async fn start(upstream: &str, faults: Faults, seed: u64) -> FaultyRpc {
        assert!(
            is_loopback_url(upstream),
            "the fault proxy only forwards to loopback, not {upstream}"
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            faults: Mutex::new(faults),
            dice: Mutex::new(StdRng::seed_from_u64(seed)),
            stats: Mutex::new(FaultStats::default()),
            started: Instant::now(),
            http: reqwest::Client::new(),
        });
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&serving);
                tokio::spawn(async move {
                    serve(stream, &shared).await;
                    drop(slot);
                });
            }
        });
        FaultyRpc {
            address,
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Changes the faults from the next request on.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// What the proxy has seen so far.
    pub fn stats(&self) -> FaultStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How long since the proxy started (the clock of [`FaultStats::sends`]).
    pub fn elapsed(&self) -> Duration {
        self.shared.started.elapsed()
    }
}

/// One connection: one request, answered (or not) as its fate says, then closed.
async fn serve(mut stream: TcpStream, shared: &Shared) {
    let Some(body) = read_request(&mut stream).await else {
        return;
    };
    let fate = shared.roll();
    shared.note(&body, fate);
    let answer = match fate {
        Fate::Drop(reaches_node) => {
            if reaches_node {
                let _ = shared.forward(body).await;
            }
            hold_unanswered(&mut stream, shared.faults_hang()).await;
            return;
        }
        Fate::Pass | Fate::Delay(_) => shared.forward(body).await,
    };
    if let Fate::Delay(delay) = fate {
        tokio::time::sleep(delay).await;
    }
    let (status, body) = answer.unwrap_or((502, b"upstream unreachable".to_vec()));
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

impl Shared {
    fn faults_hang(&self) -> Duration {
        self.faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hang
    }
}

/// Keeps the connection open without answering until the client gives up or `hang` passes.
async fn hold_unanswered(stream: &mut TcpStream, hang: Duration) {
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(hang, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                return;
            }
        }
    })
    .await;
}

/// Reads one HTTP request and returns its body (`None` on a malformed or closed request).
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_REQUEST {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        return None;
    }
    while buffer.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(buffer[header_end..header_end + length].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_upstreams() {
        assert!(is_loopback_url("http://127.0.0.1:8545"));
        assert!(is_loopback_url("http://localhost:8545/"));
        assert!(is_loopback_url("http://[::1]:8545"));
        assert!(!is_loopback_url("http://10.0.0.1:8545"));
        assert!(!is_loopback_url("https://example.org"));
    }

    #[test]
    fn the_same_seed_rolls_the_same_faults() {
        let rolls = |seed| {
            let shared = Shared {
                upstream: String::new(),
                faults: Mutex::new(Faults::LOSSY),
                dice: Mutex::new(StdRng::seed_from_u64(seed)),
                stats: Mutex::new(FaultStats::default()),
                started: Instant::now(),
                http: reqwest::Client::new(),
            };
            (0..2000)
                .map(|_| format!("{:?}", shared.roll()))
                .collect::<Vec<_>>()
        };
        let first = rolls(7);
        assert_eq!(first, rolls(7));
        let dropped = first.iter().filter(|f| f.starts_with("Drop")).count();
        let delayed = first.iter().filter(|f| f.starts_with("Delay")).count();
        // 7% and 30% of 2000, within a generous margin.
        assert!((90..=190).contains(&dropped), "{dropped}");
        assert!((500..=700).contains(&delayed), "{delayed}");
    }
}
