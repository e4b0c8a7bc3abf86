//! The baseline for the load script: a bare poem handler with no
//! middleware, no auth and no state, on the same runtime settings as
//! Portcullis. `/v1/auth/verify` is measured against it.
//!
//! `cargo run --release --example bare_poem -- 127.0.0.1:18081`

use poem::listener::TcpListener;
use poem::{get, handler, Route, Server};

#[handler]
fn ok() -> &'static str {
    "ok"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18081".to_owned());
    Server::new(TcpListener::bind(bind)).run(Route::new().at("/", get(ok))).await
}
