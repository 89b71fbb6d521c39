//! What the fuzz targets share: one in-memory FarmLokal service per fuzzing process, answering requests built
//! in memory (no socket), and the checks every HTTP answer must pass whatever the input.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use farmlokal::adapters::memory::product_repository::MemoryProductRepository;
use farmlokal::startup::{AppBuilder, Settings};
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderMap, StatusCode};
use poem::{Endpoint as _, EndpointExt as _, Request};

/// Products in the fuzzed service's catalogue.
pub const PRODUCTS: u64 = 300;

/// The webhook secret the fuzzed service accepts (the test settings' secret).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON; panics (a finding) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{} answered a body that is not JSON ({e}): {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// Asserts the answer is a problem+json error with `status` equal to the HTTP status, and returns its code.
    pub fn problem_code(&self) -> String {
        assert_eq!(self.content_type.as_deref(), Some("application/problem+json"), "{}", self.status);
        let problem = self.json();
        assert_eq!(problem["status"], self.status.as_u16(), "{problem}");
        problem["code"].as_str().unwrap_or_else(|| panic!("a problem without a code: {problem}")).to_owned()
    }
}

struct Service {
    runtime: tokio::runtime::Runtime,
    endpoint: BoxEndpoint<'static>,
}

thread_local! {
    static SERVICE: RefCell<Option<Service>> = const { RefCell::new(None) };
}

fn build() -> Service {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let endpoint = runtime.block_on(async {
        let mut settings = Settings::for_tests();
        // Every fuzzed listing is a new cache key: keep them briefly so a long run does not grow without bound.
        settings.policy.cache_ttl = Duration::from_secs(1);
        let state =
            AppBuilder::in_memory(settings).products(Arc::new(MemoryProductRepository::sample(PRODUCTS))).build();
        state.endpoint().map_to_response().boxed()
    });
    Service { runtime, endpoint }
}

/// Sends `request` to this process's service and reads the whole answer.
pub fn send(request: Request) -> Answer {
    SERVICE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let service = slot.get_or_insert_with(build);
        service.runtime.block_on(async {
            let response = service.endpoint.call(request).await.expect("map_to_response never fails");
            let status = response.status();
            let content_type = response.content_type().map(str::to_owned);
            let headers = response.headers().clone();
            let body = response.into_body().into_vec().await.expect("an in-memory body reads");
            Answer { status, headers, content_type, body }
        })
    })
}

/// Asserts no answer is a server error: whatever a client sends, the service answers it as a client error.
pub fn assert_not_a_server_error(answer: &Answer, what: &str) {
    assert!(
        !answer.status.is_server_error(),
        "{what} was answered {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
}
