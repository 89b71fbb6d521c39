//! The service's own HTTP behaviour around every route, as one endpoint: each request is observed (request id,
//! span, duration histogram), represented (coding, `Vary`, `Cache-Control`, `HEAD`), given CORS, rate limited,
//! then answered by the hot lane ([`super::hot`]) or by the routes, inside the request timeout and the body
//! limit.
//!
//! The steps run in that order in one future, each a `start` before the answer and a `finish` after it, rather
//! than as a stack of `.around` layers: each layer moved the request and the response into a future of its
//! own and boxed the layer below, which cost a hot listing about 1.3 µs of CPU time of the 9 it took
//! (`/proc/<pid>/stat` under wrk, against a build with the hot lane outside the stack: README).

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, Request, Response};
use tracing::Instrument as _;

use super::cors::CorsPolicy;
use super::hot::HotListings;
use super::middleware::{Observed, RequestMetrics};
use super::problem;
use super::rate_limit::Limiter;
use super::representation::{AllowTable, Represented};

/// Every route, behind the steps every request takes.
pub struct Edge {
    pub(super) routes: BoxEndpoint<'static>,
    pub(super) metrics: Arc<RequestMetrics>,
    pub(super) allow: Arc<AllowTable>,
    pub(super) cors: Option<CorsPolicy>,
    pub(super) limiter: Limiter,
    pub(super) hot: Arc<HotListings>,
}

impl Endpoint for Edge {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        let observed = Observed::start(&request);
        let result = self.represented(request).instrument(observed.span()).await;
        Ok(observed.finish(result, &self.metrics))
    }
}

impl Edge {
    /// The answer to `request` as it goes on the wire; an error only when its body cannot be read.
    async fn represented(&self, mut request: Request) -> poem::Result<Response> {
        let represented = Represented::start(&mut request);
        let cors = self.cors.as_ref().map(|policy| policy.start(&request));
        let mut response = match cors.as_ref().and_then(|cors| cors.preflight(&request)) {
            Some(preflight) => preflight,
            None => match self.limiter.admit(&request).await {
                Ok(decision) => {
                    let mut response = match self.hot.answer(&request) {
                        Some(response) => response,
                        None => self.routes.call(request).await.unwrap_or_else(|error| problem::error_response(&error)),
                    };
                    if let Some(decision) = decision {
                        self.limiter.finish(&decision, &mut response);
                    }
                    response
                }
                Err(refused) => refused,
            },
        };
        if let Some(cors) = cors {
            cors.finish(&mut response);
        }
        represented.finish(response, &self.allow).await
    }
}
