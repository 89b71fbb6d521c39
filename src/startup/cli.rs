//! The `farmlokal` command line: `serve` (the default), `openapi`, `migrate`, `seed`, `sandbox`, `webhook send`.

use std::net::SocketAddr;
use std::sync::Arc;

use super::builder::{AppBuilder, Settings, DEV_WEBHOOK_SECRET};
use super::config::Config;
use super::server::Application;
use super::telemetry::init_logging;
use crate::adapters::mysql::{migrations, seed};
use crate::adapters::sandbox::{self, SandboxConfig};
use crate::domain::webhook::WebhookSecret;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use secrecy::ExposeSecret;

/// FarmLokal backend: catalogue, delivery estimates and partner webhooks.
#[derive(Debug, Parser)]
#[command(name = "farmlokal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Print the OpenAPI spec (YAML, or JSON with --json).
    Openapi {
        /// JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Apply the database migrations to FARMLOKAL_MYSQL_URL (creating the database if needed).
    Migrate,
    /// Load the deterministic sample catalogue into FARMLOKAL_MYSQL_URL.
    Seed {
        /// Number of products.
        #[arg(long, default_value = "1000000")]
        products: u64,
    },
    /// Run the simulated OAuth2 server and partner A alone.
    Sandbox {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: SocketAddr,
    },
    /// Partner B webhook tools.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Sign an event as partner B does and send it.
    Send(SendArgs),
}

#[derive(Debug, Args)]
struct SendArgs {
    /// Webhook URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks/partner-b")]
    url: String,
    /// Signing secret (`whsec_...`); default: the first of FARMLOKAL_WEBHOOK_SECRETS, else the development one.
    #[arg(long)]
    secret: Option<String>,
    /// Event type, e.g. `product.stock_adjusted` or `product.price_updated`.
    #[arg(long = "type")]
    event_type: String,
    /// Event data as JSON, e.g. '{"product_id":1,"delta":-3}'.
    #[arg(long)]
    data: String,
    /// Webhook id; send the same id again to see the duplicate answer. Default: a new one.
    #[arg(long)]
    id: Option<String>,
}

fn mysql_url(config: &Config) -> anyhow::Result<String> {
    config
        .mysql_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned())
        .context("FARMLOKAL_MYSQL_URL (or --mysql-url) is required, e.g. mysql://root@127.0.0.1:3306/farmlokal")
}

/// The spec as committed in `openapi/`: YAML, or JSON.
pub fn openapi_spec(json: bool) -> String {
    let service = AppBuilder::in_memory(Settings::default()).build().api_service();
    let published = crate::api::spec::Published::of(&service);
    if json {
        published.json
    } else {
        published.yaml
    }
}

/// Runs the command line.
///
/// # Errors
/// Whatever the chosen command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.serve;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            init_logging(config.log_format);
            let app = Application::build(&config).await?;
            app.run_until_stopped().await
        }
        Command::Openapi { json } => {
            println!("{}", openapi_spec(json));
            Ok(())
        }
        Command::Migrate => {
            init_logging(config.log_format);
            migrations::migrate(&mysql_url(&config)?).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed { products } => {
            init_logging(config.log_format);
            let report = seed::seed(&mysql_url(&config)?, products, true).await?;
            println!(
                "seeded {} products ({} inserted): load {:.1}s, index build {:.1}s, total {:.1}s",
                report.requested,
                report.inserted,
                report.load.as_secs_f64(),
                report.index_build.as_secs_f64(),
                report.total.as_secs_f64()
            );
            Ok(())
        }
        Command::Sandbox { bind } => {
            init_logging(config.log_format);
            sandbox::run_until_ctrl_c(SandboxConfig::default(), bind).await
        }
        Command::Webhook { command: WebhookCommand::Send(args) } => {
            let secret = match args.secret.as_deref() {
                Some(raw) => WebhookSecret::parse(raw)?,
                None => match config.webhook_secrets.first() {
                    Some(secret) => secret.clone(),
                    None => WebhookSecret::parse(DEV_WEBHOOK_SECRET)?,
                },
            };
            let data: serde_json::Value = serde_json::from_str(&args.data).context("--data must be JSON")?;
            let body = serde_json::to_vec(&serde_json::json!({ "type": args.event_type, "data": data }))?;
            let id = args.id.unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
            let sent = Arc::new((args.url, id, body, secret));
            let (status, answer) =
                tokio::task::spawn_blocking(move || send_webhook(&sent.0, &sent.1, &sent.2, &sent.3)).await??;
            println!("{status}\n{answer}");
            Ok(())
        }
    }
}

fn send_webhook(url: &str, id: &str, body: &[u8], secret: &WebhookSecret) -> anyhow::Result<(u16, String)> {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = secret.sign(id, timestamp, body);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", &timestamp.to_string())
        .header("webhook-signature", &signature)
        .send(body)
        .with_context(|| format!("sending to {url}"))?;
    let status = response.status().as_u16();
    let answer = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, answer))
}
