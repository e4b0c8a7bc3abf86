//! Rebuild when a migration changes: `sqlx::migrate!` embeds them at compile
//! time. A build without a storage feature stops here, before any dependency
//! is compiled for nothing; `src/lib.rs` says the same with `compile_error!`
//! for tools that skip build scripts.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let sqlite = std::env::var_os("CARGO_FEATURE_SQLITE").is_some();
    let postgres = std::env::var_os("CARGO_FEATURE_POSTGRES").is_some();
    if !sqlite && !postgres {
        eprintln!(
            "Portcullis needs a storage backend: enable the `sqlite` feature (the default) \
             or the `postgres` feature, e.g. `cargo build --features postgres`."
        );
        std::process::exit(1);
    }
}
