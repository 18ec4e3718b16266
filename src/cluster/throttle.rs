//! The client side of request flow control. **I/O** (a tower layer in kube's client stack).
//!
//! - [`TokenBucket`]: QPS and burst, as client-go's `rest.Config` sizes them. A request takes a
//!   token; tokens refill at `qps` up to `burst`; a request that finds none waits its turn.
//!   Fairness between clients is the API server's job (API Priority and Fairness); this only keeps
//!   one run from flooding it. The defaults (200 per second, bursts of 500) are above what a
//!   50-instance fleet sends (≈ 116 per second measured) and above kubectl's measured rate
//!   (≈ 75–115 per second: kubectl limits only its discovery client, to 50 and 300, in
//!   `k8s.io/kubectl/pkg/cmd/cmd.go`); at kubectl's discovery figures a 50-instance install took
//!   2.0× kubectl's time (docs/testing.md).
//! - [`requests`]: every request this process sent, for `-v`'s per-phase counts.
//!
//! Written here rather than taken from a crate: tower's own `RateLimit` is a fixed window (a
//! burst then a stall until the window ends), not a token bucket; `governor` would do, but adds a
//! dependency tree for twenty lines of arithmetic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Requests sent by every client of this process so far.
pub fn requests() -> u64 {
    REQUESTS.load(Ordering::Relaxed)
}

/// The default queries per second.
pub const DEFAULT_QPS: u32 = 200;
/// The default burst.
pub const DEFAULT_BURST: u32 = 500;

/// A token bucket shared by every clone of the layer's service.
#[derive(Debug)]
struct Bucket {
    qps: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// Takes a token; returns how long the caller must wait for it (reservations may drive the
    /// balance below zero, so waiting callers are served in order).
    fn take(&self, now: Instant) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = *s;
        let refilled =
            (tokens + now.saturating_duration_since(last).as_secs_f64() * self.qps).min(self.burst);
        let left = refilled - 1.0;
        *s = (left, now);
        if left >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-left / self.qps) }
    }
}

/// The layer: `qps` requests per second on average, `burst` at once.
#[derive(Debug, Clone)]
pub struct TokenBucket(Arc<Bucket>);

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket(Arc::new(Bucket {
            qps: f64::from(qps.max(1)),
            burst,
            state: Mutex::new((burst, Instant::now())),
        }))
    }
}

impl<S> tower::Layer<S> for TokenBucket {
    type Service = Throttled<S>;
    fn layer(&self, inner: S) -> Throttled<S> {
        Throttled { inner, bucket: self.0.clone(), wait: None, reserved: false }
    }
}

/// A service behind the bucket: it is ready once its token is due and the inner service is
/// ready (as tower's own `RateLimit` waits in `poll_ready`); it counts every request it sends.
pub struct Throttled<S> {
    inner: S,
    bucket: Arc<Bucket>,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    reserved: bool,
}

impl<S, R> tower::Service<R> for Throttled<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.reserved {
            self.reserved = true;
            let wait = self.bucket.take(Instant::now());
            if !wait.is_zero() {
                self.wait = Some(Box::pin(tokio::time::sleep(wait)));
            }
        }
        if let Some(sleep) = self.wait.as_mut() {
            if std::future::Future::poll(sleep.as_mut(), cx).is_pending() {
                return Poll::Pending;
            }
            self.wait = None;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.reserved = false;
        REQUESTS.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_qps() {
        let b = TokenBucket::new(50, 3).0;
        let t0 = Instant::now();
        let waits: Vec<Duration> = (0..5).map(|_| b.take(t0)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3], "the burst");
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        assert!((ms(waits[3]) - 20.0).abs() < 0.01, "then one every 1/qps: {:?}", waits[3]);
        assert!((ms(waits[4]) - 40.0).abs() < 0.01, "{:?}", waits[4]);
        // Refilled after a second, up to the burst only.
        let later = t0 + Duration::from_secs(10);
        let waits: Vec<Duration> = (0..4).map(|_| b.take(later)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert!((ms(waits[3]) - 20.0).abs() < 0.01, "{:?}", waits[3]);
    }
}
