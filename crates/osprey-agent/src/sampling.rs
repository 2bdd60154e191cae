//! Sampling strategies in the Jaeger agent's place: an application's Jaeger client asks
//! `localhost:5778/sampling?service=NAME` (older clients `/?service=NAME`); the agent asks the
//! server's SAMPLING listener the same question and answers with what it said. Answers are
//! kept for a while per question, so a node's many clients cost the server one request per
//! service and interval, and while the server is away the last answer is still given (a
//! client that gets none keeps its current strategy, as with the Jaeger agent).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// How long an answer of the server is given again without asking.
const FRESH_FOR: Duration = Duration::from_secs(30);

struct Proxy {
    upstream: String,
    http: ureq::Agent,
    /// Answers by query string: when asked, status, body.
    answers: Mutex<HashMap<String, (Instant, u16, String)>>,
}

/// Serves strategies on `addr`, asked of `upstream` (the server's SAMPLING listener,
/// `http://osprey:5778`), on a thread of its own for as long as the process lives.
pub fn start(addr: SocketAddr, upstream: &str) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        http: ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_recv_response(Some(Duration::from_secs(5)))
            .timeout_recv_body(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into(),
        answers: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/sampling", get(strategy))
        .route("/", get(strategy))
        .with_state(proxy);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tracing::info!(%addr, upstream, "serving sampling strategies");
    std::thread::Builder::new()
        .name("sampling".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        if let Err(error) = axum::serve(listener, router).await {
                            tracing::error!(%error, "the sampling listener stopped");
                        }
                    }
                    Err(error) => tracing::error!(%error, "the sampling listener did not start"),
                }
            });
        })?;
    Ok(())
}

async fn strategy(State(proxy): State<Arc<Proxy>>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let fresh = proxy
        .answers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&query)
        .filter(|(when, _, _)| when.elapsed() < FRESH_FOR)
        .map(|(_, status, body)| (*status, body.clone()));
    let (status, body) = match fresh {
        Some(answer) => answer,
        None => {
            let asked = proxy.clone();
            let question = query.clone();
            let answer = tokio::task::spawn_blocking(move || asked.ask(&question))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match answer {
                Ok(answer) => answer,
                Err(error) => {
                    // The server is away: the last answer, however old, else a clear error.
                    let stale = proxy
                        .answers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&query)
                        .map(|(_, status, body)| (*status, body.clone()));
                    match stale {
                        Some(answer) => answer,
                        None => {
                            return (
                                StatusCode::BAD_GATEWAY,
                                format!("cannot ask {} for a strategy: {error}", proxy.upstream),
                            )
                                .into_response();
                        }
                    }
                }
            }
        }
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

impl Proxy {
    /// The server's answer to `query`, kept when it is one (2xx or 4xx: a bad question stays
    /// bad; 5xx and failures are not kept).
    fn ask(&self, query: &str) -> Result<(u16, String), String> {
        let url = format!("{}/sampling?{query}", self.upstream);
        let mut response = self.http.get(&url).call().map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if status >= 500 {
            return Err(format!("{url} answered {status}"));
        }
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(query.to_string(), (Instant::now(), status, body.clone()));
        Ok((status, body))
    }
}
