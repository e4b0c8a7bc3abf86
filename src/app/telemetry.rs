//! Logs: JSON lines, one per event, with the request span's fields (request
//! id, method, client address) on every line.
//!
//! Every line passes through a scrubber before it is written, so no field
//! can leak a secret whatever a caller (ours or a dependency's) logs:
//! values of fields whose names speak of secrets are replaced, and any
//! string that looks like a JWT or a URL with a password is masked.

use serde_json::Value;
use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

const REDACTED: &str = "[REDACTED]";

/// Field names (lower-case, by substring) whose values never reach a log.
const SECRET_FIELDS: &[&str] =
    &["authorization", "cookie", "password", "token", "secret", "key", "credential", "jwt", "signature"];

/// Field names that contain a secret word but hold no secret.
const HARMLESS_FIELDS: &[&str] = &["token_type", "kind", "keys_configured"];

/// Names that speak of a secret but hold a choice from a closed set, such
/// as the start-up line's `password_hasher` or `PORTCULLIS_SECRETS=env` in
/// an error: the value passes only when it is one of these words, so
/// anything else under the same name is still masked.
const NAMED_CHOICES: &[(&str, &[&str])] = &[
    ("password_hasher", &["bcrypt"]),
    ("secrets", &["env", "vault", "file"]),
    ("portcullis_secrets", &["env", "vault", "file"]),
];

/// Poem announces each listener itself; the service logs one "listening"
/// line naming every address, so poem's own start and stop lines are kept
/// to warnings.
const QUIET_SERVER: &str = "poem::server=warn";

/// Installs the JSON subscriber writing to standard output, filtered by
/// `rust_log` (the `RUST_LOG` of the environment over `.env`, read before
/// logging starts), by default `info`. A filter that does not parse falls
/// back to `info` and says so in the log.
pub fn init(rust_log: Option<&str>) {
    let requested = rust_log.map(str::trim).filter(|filter| !filter.is_empty()).unwrap_or("info");
    let problem = log_filter(requested).err();
    init_with(io::stdout, requested);
    if let Some(error) = problem {
        tracing::warn!(error = %error, "RUST_LOG does not parse; logging at info");
    }
}

fn log_filter(directives: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    let quiet_server = QUIET_SERVER.parse()?;
    Ok(EnvFilter::try_new(directives)?.add_directive(quiet_server))
}

/// Installs the JSON subscriber writing through `writer`, filtered by
/// `filter` (`RUST_LOG` syntax; `info` when it does not parse); a second
/// call changes nothing. Tests use it to capture what would be logged.
pub fn init_with<W>(writer: W, filter: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = log_filter(filter).or_else(|_| log_filter("info")).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .flatten_event(true)
        .with_writer(Scrubbing(writer));
    let _ = tracing_subscriber::registry().with(filter).with(json).try_init();
}

/// Wraps a writer factory so every line is scrubbed.
pub struct Scrubbing<W>(pub W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Scrubbing<W> {
    type Writer = ScrubbingWriter<W::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter { inner: self.0.make_writer(), buffer: Vec::new() }
    }
}

/// Buffers one event and writes it scrubbed when dropped or flushed.
pub struct ScrubbingWriter<W: Write> {
    inner: W,
    buffer: Vec<u8>,
}

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return self.inner.flush();
        }
        let text = String::from_utf8_lossy(&self.buffer);
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
            out.push_str(&scrub_line(body));
            out.push_str(newline);
        }
        self.buffer.clear();
        self.inner.write_all(out.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for ScrubbingWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Scrubs one log line: structurally when it is JSON, textually otherwise.
pub fn scrub_line(line: &str) -> String {
    match serde_json::from_str::<Value>(line) {
        Ok(mut value) => {
            scrub_value(None, &mut value);
            value.to_string()
        }
        Err(_) => scrub_text(line),
    }
}

fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    !HARMLESS_FIELDS.contains(&name.as_str()) && SECRET_FIELDS.iter().any(|word| name.contains(word))
}

/// Whether `value` under `name` is one of the closed choices that may pass.
fn is_named_choice(name: &str, value: &str) -> bool {
    let name = name.to_ascii_lowercase();
    NAMED_CHOICES.iter().any(|(choice, values)| *choice == name && values.contains(&value))
}

fn scrub_value(field: Option<&str>, value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                scrub_value(Some(key), inner);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| scrub_value(field, item)),
        Value::String(text) if field.is_some_and(|name| is_named_choice(name, text)) => {}
        Value::String(text) if field.is_some_and(is_secret_field) => REDACTED.clone_into(text),
        Value::String(text) => *text = scrub_text(text),
        Value::Number(_) | Value::Bool(_) | Value::Null => {
            if field.is_some_and(is_secret_field) {
                *value = Value::String(REDACTED.to_owned());
            }
        }
    }
}

/// Masks JWTs, `Bearer` credentials, passwords in URLs and
/// `name=value` pairs whose name speaks of a secret.
pub fn scrub_text(text: &str) -> String {
    let words: Vec<String> = text.split(' ').map(scrub_word).collect();
    let mut joined = words.join(" ");
    // "Bearer <token>" splits into two words; mask the second.
    let mut search_from = 0;
    while let Some(found) = joined[search_from..].to_ascii_lowercase().find("bearer ") {
        let start = search_from + found + "bearer ".len();
        let end = joined[start..].find([' ', '"', ',', '}']).map_or(joined.len(), |i| start + i);
        if end > start {
            joined.replace_range(start..end, REDACTED);
        }
        search_from = start + REDACTED.len().min(joined.len() - start);
    }
    joined
}

fn scrub_word(word: &str) -> String {
    if looks_like_jwt(word) {
        return REDACTED.to_owned();
    }
    if let Some((name, value)) = word.split_once('=') {
        let bare_name = name.trim_start_matches(['"', '\'', '{', '(']);
        let bare_value = value.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        if is_secret_field(bare_name) && !is_named_choice(bare_name, bare_value) {
            return format!("{name}={REDACTED}");
        }
    }
    if word.contains("://") && word.contains('@') {
        return crate::redact::redact_url(word);
    }
    word.to_owned()
}

fn looks_like_jwt(word: &str) -> bool {
    let core = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_' && c != '.');
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && core.starts_with("eyJ")
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// A writer that keeps everything in memory, for tests that read what would
/// have been logged. Test support only: a release build has no use for it.
#[cfg(any(test, feature = "test-support"))]
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "test-support"))]
impl CapturedLogs {
    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

#[cfg(any(test, feature = "test-support"))]
impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "test-support"))]
impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";

    #[test]
    fn secret_fields_are_redacted_at_any_depth() {
        let line = r#"{"message":"x","password":"hunter2hunter2","span":{"authorization":"Basic abc","refresh_token":"q4Zs"},"token_type":"Bearer","items":[{"api_key":7}]}"#;
        let scrubbed = scrub_line(line);
        for secret in ["hunter2hunter2", "Basic abc", "q4Zs", "\"api_key\":7"] {
            assert!(!scrubbed.contains(secret), "{secret} leaked: {scrubbed}");
        }
        assert!(scrubbed.contains("\"token_type\":\"Bearer\""));
    }

    #[test]
    fn jwts_bearer_credentials_and_url_passwords_are_masked_in_free_text() {
        let text =
            format!("got {JWT} and Authorization: Bearer abc.def-ghi from postgres://app:s3cret@db/auth cookie=sid123");
        let scrubbed = scrub_text(&text);
        for secret in [JWT, "abc.def-ghi", "s3cret", "sid123"] {
            assert!(!scrubbed.contains(secret), "{secret} leaked: {scrubbed}");
        }
        assert!(scrubbed.contains("postgres://app:***@db/auth"));
        let line = format!(r#"{{"message":"connect to redis://:pw@cache:6379 with {JWT}"}}"#);
        let scrubbed = scrub_line(&line);
        assert!(!scrubbed.contains(":pw@") && !scrubbed.contains(JWT), "{scrubbed}");
    }

    #[test]
    fn ordinary_lines_pass_unchanged() {
        let line = r#"{"level":"INFO","message":"request finished","route":"/v1/auth/login","status":200}"#;
        assert_eq!(scrub_line(line), serde_json::from_str::<Value>(line).unwrap().to_string());
        assert_eq!(scrub_text("plain words only"), "plain words only");
    }

    #[test]
    fn adapter_names_pass_but_their_fields_still_hide_anything_else() {
        let line =
            r#"{"message":"starting portcullis","password_hasher":"bcrypt","secrets":"env","database":"sqlite"}"#;
        assert_eq!(scrub_line(line), serde_json::from_str::<Value>(line).unwrap().to_string());
        let line = r#"{"password_hasher":"hunter2hunter2","secrets":"s3cret-value"}"#;
        let scrubbed = scrub_line(line);
        assert!(!scrubbed.contains("hunter2hunter2") && !scrubbed.contains("s3cret-value"), "{scrubbed}");
        let text = "PORTCULLIS_SECRETS=vault: this build has no Vault adapter";
        assert_eq!(scrub_text(text), text);
        let scrubbed = scrub_text("PORTCULLIS_SECRETS=hunter2 PORTCULLIS_ADMIN_PASSWORD=vault");
        assert!(!scrubbed.contains("hunter2") && !scrubbed.contains("=vault"), "{scrubbed}");
    }

    #[test]
    fn a_filter_keeps_poem_listener_lines_quiet_and_refuses_nonsense() {
        assert!(log_filter("debug").unwrap().to_string().contains(QUIET_SERVER));
        assert!(log_filter("warn,portcullis=debug").is_ok());
        assert!(log_filter("[[[").is_err());
    }

    #[test]
    fn the_writer_scrubs_what_passes_through() {
        let captured = CapturedLogs::default();
        let scrubbing = Scrubbing(captured.clone());
        {
            let mut writer = scrubbing.make_writer();
            writer.write_all(b"{\"password\":\"hunter2hunter2\"}\n").unwrap();
        }
        assert_eq!(captured.contents(), "{\"password\":\"[REDACTED]\"}\n");
    }
}
