//! The operator's HTTP endpoint: Prometheus `/metrics` (text exposition, `prometheus-client`),
//! `/healthz` (the process serves) and `/readyz` (the controller's cache holds every `TektonFleet`:
//! it has reached the API server, may list them, and can reconcile). **I/O.**

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `result` label of `tkn_multi_operator_reconciles_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// The operator's metrics, and whether it is ready.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    duration: Histogram,
    steps: Counter,
    drift: Counter,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, not ready.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tkn_multi_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles of TektonFleets, by result",
            reconciles.clone(),
        );
        let duration =
            Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]);
        registry.register(
            "reconcile_duration_seconds",
            "How long a reconcile took (observe, plan, execute, waits)",
            duration.clone(),
        );
        let steps = Counter::default();
        registry.register("applied_steps", "Plan steps executed", steps.clone());
        let drift = Counter::default();
        registry.register(
            "drift_corrected",
            "Reconciles that reverted changes made outside the fleet (the spec unchanged)",
            drift.clone(),
        );
        Metrics { registry, reconciles, duration, steps, drift, ready: AtomicBool::new(false) }
    }

    /// A reconcile ended after `took`, successfully or not.
    pub fn reconciled(&self, took: Duration, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// A plan of `steps` steps was executed; `drift` when it corrected drift.
    pub fn applied(&self, steps: usize, drift: bool) {
        self.steps.inc_by(steps as u64);
        if drift {
            self.drift.inc();
        }
    }

    /// The controller's first list of `TektonFleet`s is in.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    fn respond(&self, path: &str) -> Response<Full<Bytes>> {
        let (status, body, kind) = match path {
            "/metrics" => (
                StatusCode::OK,
                self.encode(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            "/healthz" | "/livez" => (StatusCode::OK, "ok\n".to_owned(), "text/plain"),
            "/readyz" if self.ready.load(Ordering::Relaxed) => {
                (StatusCode::OK, "ok\n".to_owned(), "text/plain")
            }
            "/readyz" => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not connected to the API server yet\n".to_owned(),
                "text/plain",
            ),
            _ => (StatusCode::NOT_FOUND, "not found\n".to_owned(), "text/plain"),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(kind));
        response
    }
}

/// Serves `metrics` on `listener` (HTTP/1.1) until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, metrics: std::sync::Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let response = metrics.respond(req.uri().path());
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_reconciles_steps_and_drift() {
        let m = Metrics::new();
        m.reconciled(Duration::from_millis(300), true);
        m.reconciled(Duration::from_millis(300), false);
        m.applied(12, true);
        m.applied(3, false);
        let text = m.encode();
        assert!(
            text.contains("tkn_multi_operator_reconciles_total{result=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("tkn_multi_operator_reconciles_total{result=\"failure\"} 1"),
            "{text}"
        );
        assert!(text.contains("tkn_multi_operator_applied_steps_total 15"), "{text}");
        assert!(text.contains("tkn_multi_operator_drift_corrected_total 1"), "{text}");
        assert!(text.contains("tkn_multi_operator_reconcile_duration_seconds_count 2"), "{text}");
    }

    #[test]
    fn readiness_waits_for_the_cache() {
        let m = Metrics::new();
        assert_eq!(m.respond("/readyz").status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(m.respond("/healthz").status(), StatusCode::OK);
        m.set_ready();
        assert_eq!(m.respond("/readyz").status(), StatusCode::OK);
        assert_eq!(m.respond("/nope").status(), StatusCode::NOT_FOUND);
    }
}
