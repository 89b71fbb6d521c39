//! The service's own HTTP behaviour around every route, as one endpoint: each request is observed (request id,
//! span, duration histogram), represented (coding, `Vary`, `Cache-Control`, `HEAD`), given CORS, rate limited,
//! then answered by the hot lane ([`super::hot`]) or by the routes, inside the request timeout and the body
//! limit.
//!
//! The steps run in that order in one future, each a `start` before the answer and a `finish` after it, rather
//! than as a stack of `.around` layers, each of which moved the request and the response into a future of its
//! own and boxed the layer below: `valgrind --tool=callgrind` counted 25,620 instructions per hot listing with
//! the layers and 22,320 with this endpoint (a bare poem handler serving the same bytes: 17,800). A hot answer
//! carries the representation step's headers already, so that step's `finish` is skipped for it.

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, Request, Response};
use tracing::Instrument as _;

use super::cors::CorsPolicy;
use super::hot::{HotListings, LIST_PRODUCTS};
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
        let Answer { result, operation } = self.answer(request).instrument(observed.span()).await;
        Ok(observed.finish(result, operation, &self.metrics))
    }
}

/// A request's answer as it goes on the wire (an error only when its body could not be read), and the operation
/// that gave it when known without asking the response: the hot lane's listings.
struct Answer {
    result: poem::Result<Response>,
    operation: Option<&'static str>,
}

impl Edge {
    async fn answer(&self, mut request: Request) -> Answer {
        let represented = Represented::start(&mut request);
        let cors = self.cors.as_ref().map(|policy| policy.start(&request));
        let mut hot = false;
        let mut response = match cors.as_ref().and_then(|cors| cors.preflight(&request)) {
            Some(preflight) => preflight,
            None => match self.limiter.admit(&request).await {
                Ok(decision) => {
                    let answer =
                        if represented.is_head() { None } else { self.hot.answer(&request, represented.coding()) };
                    hot = answer.is_some();
                    let mut response = match answer {
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
        if hot {
            // The hot lane's headers are the representation step's already (its tests compare the two).
            return Answer { result: Ok(response), operation: Some(LIST_PRODUCTS) };
        }
        Answer { result: represented.finish(response, &self.allow).await, operation: None }
    }
}
