//! Prometheus metrics, rendered as text at `/metrics`. Requests are labelled by route
//! template (`/v1/data-products/{name}`, or `unmatched`), never the raw path, and by method
//! only when it is a standard one (`OTHER` otherwise), so no client can grow the label sets:
//! every label takes values from a fixed set (status codes are three digits).
use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use poem::http::Method;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Method label, route template, status.
type RequestKey = (&'static str, Arc<str>, u16);

/// The label of a request method: the method itself when standard, else `OTHER`.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"];
    KNOWN.into_iter().find(|m| *m == method.as_str()).unwrap_or("OTHER")
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<RequestKey, u64>>,
    durations: Mutex<HashMap<(&'static str, Arc<str>), Histogram>>,
    replays: AtomicU64,
    webhook_succeeded: AtomicU64,
    webhook_failed: AtomicU64,
    /// Upload status changes, in the order of `UPLOAD_STATUSES`.
    uploads: [AtomicU64; 5],
    /// Rows, bytes, violations and durations of upload validation.
    pub validation: ValidationMetrics,
}

/// The statuses `daap_uploads_total` counts (an upload counts once per status it reaches).
const UPLOAD_STATUSES: [&str; 5] = ["pending", "received", "validated", "rejected", "expired"];

/// Connections of the database pool.
pub struct PoolState {
    pub in_use: u64,
    pub idle: u64,
}

impl Metrics {
    pub fn observe(&self, method: &Method, route: &Arc<str>, status: u16, elapsed: Duration) {
        let method = method_label(method);
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((method, route.clone(), status)).or_default() += 1;
        }
        if let Ok(mut m) = self.durations.lock() {
            let h = m.entry((method, route.clone())).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
        }
    }

    pub fn replayed(&self) {
        self.replays.fetch_add(1, Ordering::Relaxed);
    }

    /// One webhook delivery attempt ended.
    pub fn webhook_delivered(&self, succeeded: bool) {
        let counter = if succeeded { &self.webhook_succeeded } else { &self.webhook_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// An upload reached `status`.
    pub fn upload(&self, status: &str) {
        if let Some(i) = UPLOAD_STATUSES.iter().position(|s| *s == status) {
            self.uploads[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn render(&self, pool: &PoolState) -> String {
        let mut out = String::new();
        out.push_str("# HELP daap_http_requests_total HTTP requests by method, route template and status.\n");
        out.push_str("# TYPE daap_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            let sorted: BTreeMap<_, _> = m.iter().map(|((m, r, s), n)| ((*m, r.as_ref(), *s), *n)).collect();
            for ((method, route, status), n) in sorted {
                let _ = writeln!(
                    out,
                    "daap_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP daap_http_request_duration_seconds HTTP request latency by method and route template.\n");
        out.push_str("# TYPE daap_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.durations.lock() {
            let sorted: BTreeMap<_, _> = m.iter().map(|((m, r), h)| ((*m, r.as_ref()), h)).collect();
            for ((method, route), h) in sorted {
                let labels = format!("method=\"{method}\",route=\"{route}\"");
                for (bound, n) in BUCKETS.iter().zip(h.counts) {
                    let _ = writeln!(out, "daap_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}");
                }
                let _ = writeln!(out, "daap_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "daap_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "daap_http_request_duration_seconds_count{{{labels}}} {}", h.count);
            }
        }
        out.push_str("# HELP daap_db_pool_connections Database pool connections by state.\n");
        out.push_str("# TYPE daap_db_pool_connections gauge\n");
        let _ = writeln!(out, "daap_db_pool_connections{{state=\"in_use\"}} {}", pool.in_use);
        let _ = writeln!(out, "daap_db_pool_connections{{state=\"idle\"}} {}", pool.idle);
        out.push_str("# HELP daap_idempotency_replays_total Answers replayed for a repeated Idempotency-Key.\n");
        out.push_str("# TYPE daap_idempotency_replays_total counter\n");
        let _ = writeln!(out, "daap_idempotency_replays_total {}", self.replays.load(Ordering::Relaxed));
        out.push_str("# HELP daap_webhook_deliveries_total Webhook delivery attempts by outcome.\n");
        out.push_str("# TYPE daap_webhook_deliveries_total counter\n");
        for (outcome, counter) in [("succeeded", &self.webhook_succeeded), ("failed", &self.webhook_failed)] {
            let _ = writeln!(
                out,
                "daap_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP daap_uploads_total Uploads that reached each status (created uploads count as pending).\n",
        );
        out.push_str("# TYPE daap_uploads_total counter\n");
        for (status, n) in UPLOAD_STATUSES.iter().zip(&self.uploads) {
            let _ = writeln!(out, "daap_uploads_total{{status=\"{status}\"}} {}", n.load(Ordering::Relaxed));
        }
        self.validation.render(&mut out);
        out
    }
}

/// Upper bounds of the validation duration buckets, in seconds (files take seconds to minutes).
const VALIDATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0];

/// Upload validation: rows and bytes read, violations by rule (the fixed `Rule::LABELS`,
/// so the label set is bounded) and how long each file took.
#[derive(Default)]
pub struct ValidationMetrics {
    rows: AtomicU64,
    bytes: AtomicU64,
    violations: [AtomicU64; crate::domain::value::Rule::LABELS.len()],
    durations: Mutex<([u64; VALIDATION_BUCKETS.len()], f64, u64)>,
}

impl ValidationMetrics {
    /// One file was checked in `elapsed`.
    pub fn observe(&self, report: &crate::uploads::validate::Report, elapsed: Duration) {
        self.rows.fetch_add(report.rows_checked, Ordering::Relaxed);
        self.bytes.fetch_add(report.bytes_checked, Ordering::Relaxed);
        for (counter, n) in self.violations.iter().zip(report.by_rule) {
            counter.fetch_add(n, Ordering::Relaxed);
        }
        if let Ok(mut h) = self.durations.lock() {
            let secs = elapsed.as_secs_f64();
            for (i, bound) in VALIDATION_BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.0[i] += 1;
                }
            }
            h.1 += secs;
            h.2 += 1;
        }
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP daap_validation_rows_total Rows of uploaded files checked.\n");
        out.push_str("# TYPE daap_validation_rows_total counter\n");
        let _ = writeln!(out, "daap_validation_rows_total {}", self.rows.load(Ordering::Relaxed));
        out.push_str("# HELP daap_validation_bytes_total Bytes of uploaded files checked.\n");
        out.push_str("# TYPE daap_validation_bytes_total counter\n");
        let _ = writeln!(out, "daap_validation_bytes_total {}", self.bytes.load(Ordering::Relaxed));
        out.push_str("# HELP daap_validation_violations_total Values or rows of uploaded files that broke a rule.\n");
        out.push_str("# TYPE daap_validation_violations_total counter\n");
        for (rule, n) in crate::domain::value::Rule::LABELS.iter().zip(&self.violations) {
            let _ = writeln!(out, "daap_validation_violations_total{{rule=\"{rule}\"}} {}", n.load(Ordering::Relaxed));
        }
        out.push_str("# HELP daap_validation_duration_seconds Time to check one uploaded file.\n");
        out.push_str("# TYPE daap_validation_duration_seconds histogram\n");
        if let Ok(h) = self.durations.lock() {
            for (bound, n) in VALIDATION_BUCKETS.iter().zip(h.0) {
                let _ = writeln!(out, "daap_validation_duration_seconds_bucket{{le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "daap_validation_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.2);
            let _ = writeln!(out, "daap_validation_duration_seconds_sum {}", h.1);
            let _ = writeln!(out, "daap_validation_duration_seconds_count {}", h.2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        let m = Metrics::default();
        let route: Arc<str> = Arc::from("unmatched");
        for name in ["MKCOL", "PROPFIND", "Mxxxxxxxxxxxxxxxxxxxx"] {
            m.observe(&Method::from_bytes(name.as_bytes()).unwrap(), &route, 405, Duration::from_millis(1));
        }
        let text = m.render(&PoolState { in_use: 0, idle: 0 });
        assert!(
            text.contains("daap_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"405\"} 3"),
            "{text}"
        );
        assert!(!text.contains("MKCOL") && !text.contains("Mxxx"), "{text}");
    }

    #[test]
    fn requests_are_counted_by_template_and_status_with_a_histogram() {
        let m = Metrics::default();
        let route: Arc<str> = Arc::from("/v1/data-products/{name}");
        m.observe(&Method::GET, &route, 200, Duration::from_millis(3));
        m.observe(&Method::GET, &route, 200, Duration::from_millis(30));
        m.observe(&Method::GET, &route, 404, Duration::from_millis(2));
        m.replayed();
        m.webhook_delivered(false);
        let text = m.render(&PoolState { in_use: 1, idle: 4 });
        assert!(
            text.contains(
                "daap_http_requests_total{method=\"GET\",route=\"/v1/data-products/{name}\",status=\"200\"} 2"
            )
        );
        assert!(text.contains("status=\"404\"} 1"));
        assert!(text.contains("le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("daap_db_pool_connections{state=\"idle\"} 4"));
        assert!(text.contains("daap_idempotency_replays_total 1"));
        assert!(text.contains("daap_webhook_deliveries_total{outcome=\"failed\"} 1"));
        assert!(text.contains("daap_webhook_deliveries_total{outcome=\"succeeded\"} 0"));
    }
}
