//! Measures seeding: `cargo run --example seed -- <url> <count> [keep-indexes] [connections] [batch_rows]`.

use farmlokal::adapters::mysql::seed::{seed_with, SeedOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).map_or("mysql://root@127.0.0.1:3306/farmlokal_seed", String::as_str);
    let count: u64 = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let defaults = SeedOptions::default();
    let options = SeedOptions {
        progress: true,
        rebuild_indexes: args.get(3).is_none_or(|s| s != "keep-indexes"),
        connections: args.get(4).map_or(Ok(defaults.connections), |s| s.parse())?,
        batch_rows: args.get(5).map_or(Ok(defaults.batch_rows), |s| s.parse())?,
    };
    let report = seed_with(url, count, options).await?;
    println!("{options:?}\n{report:?}");
    Ok(())
}
