//! The ceiling of bench/run.sh's row (a): a bare poem handler answering `GET /products` with one fixed page (the
//! hot listing's exact bytes and `Content-Type`, fetched from the running service by the benchmark), on the same
//! runtime as the service (`#[tokio::main]`: multi-threaded, one worker per CPU) and with nothing else on the
//! request path: no middleware, no cache lookup, no request id, no metrics.
//!
//! `bare_page ADDRESS BODY_FILE CONTENT_TYPE`, for example
//! `cargo run --release --example bare_page -- 127.0.0.1:18090 /tmp/page.json application/json`.

use anyhow::Context as _;
use bytes::Bytes;
use poem::http::header::CONTENT_TYPE;
use poem::http::HeaderValue;
use poem::listener::TcpListener;
use poem::{get, handler, EndpointExt as _, Response, Route, Server};

/// The page every request gets.
#[derive(Clone)]
struct Page {
    body: Bytes,
    content_type: HeaderValue,
}

#[handler]
fn page(poem::web::Data(page): poem::web::Data<&Page>) -> Response {
    Response::builder().header(CONTENT_TYPE, page.content_type.clone()).body(page.body.clone())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, body_file, content_type] = args.as_slice() else {
        anyhow::bail!("usage: bare_page ADDRESS BODY_FILE CONTENT_TYPE");
    };
    let body = std::fs::read(body_file).with_context(|| format!("reading {body_file}"))?;
    let content_type =
        HeaderValue::from_str(content_type).with_context(|| format!("{content_type:?} is not a header value"))?;
    let page_data = Page { body: Bytes::from(body), content_type };
    let app = Route::new().at("/products", get(page)).data(page_data);
    Server::new(TcpListener::bind(address.as_str())).run(app).await.context("serving")?;
    Ok(())
}
