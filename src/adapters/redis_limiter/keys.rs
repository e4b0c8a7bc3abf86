//! The names of the limiter's Redis keys: the prefix rule, the layout in
//! the parent module's docs, and the digests that keep any account string
//! or rate-limit key from breaking a hash tag. Pure string work: never
//! talks to Redis.

use crate::ports::{Bucket, FailureKey};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::sync::Arc;

/// The namespace of every key unless [`super::RedisLimiter::with_prefix`] changes it.
pub const DEFAULT_PREFIX: &str = "portcullis";

/// Rate-limit keys longer than this are stored by their digest.
const MAX_READABLE_KEY: usize = 128;

/// Longest key prefix accepted, in bytes.
pub const MAX_PREFIX_BYTES: usize = 64;

/// The namespace in front of every key: 1 to [`MAX_PREFIX_BYTES`] bytes of
/// printable ASCII without braces, because a brace would change the keys'
/// hash tags and a space or a non-ASCII byte makes keys that operators
/// cannot type. This is the only place the rule is written; configuration
/// parses `PORTCULLIS_REDIS__KEY_PREFIX` through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrefix(Arc<str>);

/// A key prefix was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a key prefix: use 1 to {MAX_PREFIX_BYTES} printable ASCII characters without braces or spaces")]
pub struct KeyPrefixError(String);

impl KeyPrefix {
    /// # Errors
    /// [`KeyPrefixError`] when `prefix` breaks the rule above.
    pub fn parse(prefix: &str) -> Result<Self, KeyPrefixError> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_BYTES
            && prefix.bytes().all(|byte| byte.is_ascii_graphic() && byte != b'{' && byte != b'}');
        if valid {
            Ok(Self(prefix.into()))
        } else {
            Err(KeyPrefixError(prefix.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        Self(DEFAULT_PREFIX.into())
    }
}

/// The names of the keys; see the module docs for the layout.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    prefix: Arc<str>,
}

/// The keys of one failed-login counter.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct CounterKeys {
    pub(super) counter: String,
    /// The account's index and the counter's member in it, for a per-IP counter.
    pub(super) indexed_as: Option<(String, String)>,
}

impl Keys {
    pub(super) fn new(prefix: KeyPrefix) -> Self {
        Self { prefix: prefix.0 }
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn bucket(&self, bucket: Bucket, key: &str) -> String {
        format!("{}:{{rl:{}:{}}}", self.prefix, bucket.as_str(), readable_or_digest(key))
    }

    /// Everything of one account shares this stem, hash tag included.
    fn account(&self, account: &str) -> String {
        format!("{}:{{lf:{}}}", self.prefix, hex_sha256(account))
    }

    pub(super) fn index(&self, account: &str) -> String {
        format!("{}:ips", self.account(account))
    }

    pub(super) fn account_wide(&self, account: &str) -> String {
        format!("{}:any", self.account(account))
    }

    /// A per-IP counter's name is this followed by the IP.
    pub(super) fn per_ip_stem(&self, account: &str) -> String {
        format!("{}:ip:", self.account(account))
    }

    pub(super) fn counter(&self, key: &FailureKey) -> CounterKeys {
        match key.ip {
            Some(ip) => {
                let member = ip.to_string();
                CounterKeys {
                    counter: format!("{}{member}", self.per_ip_stem(&key.account)),
                    indexed_as: Some((self.index(&key.account), member)),
                }
            }
            None => CounterKeys { counter: self.account_wide(&key.account), indexed_as: None },
        }
    }
}

pub(super) fn hex_sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// `key` itself when it cannot disturb the hash tag or be mistaken for a
/// digest; else `#` and its digest.
fn readable_or_digest(key: &str) -> Cow<'_, str> {
    let readable = key.len() <= MAX_READABLE_KEY
        && !key.starts_with('#')
        && key.bytes().all(|byte| byte.is_ascii_graphic() && byte != b'{' && byte != b'}');
    if readable {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(format!("#{}", hex_sha256(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure_key(account: &str, ip: Option<&str>) -> FailureKey {
        FailureKey { account: account.into(), ip: ip.map(|ip| ip.parse().unwrap()) }
    }

    #[test]
    fn account_strings_cannot_break_the_key_layout() {
        let keys = Keys { prefix: "portcullis".into() };
        let plain = keys.counter(&failure_key("a@example.com", Some("192.0.2.7")));
        let sneaky = keys.counter(&failure_key("a@example.com}:ip:192.0.2.7", None));
        assert_ne!(plain.counter, sneaky.counter);
        let digest = hex_sha256("a@example.com");
        assert_eq!(plain.counter, format!("portcullis:{{lf:{digest}}}:ip:192.0.2.7"));
        assert_eq!(plain.indexed_as, Some((format!("portcullis:{{lf:{digest}}}:ips"), "192.0.2.7".to_owned())));
        for name in [&sneaky.counter, &keys.account_wide("{x}"), &keys.index("x}{")] {
            let tag = name.split_once('{').unwrap().1.split_once('}').unwrap().0;
            assert!(tag.starts_with("lf:") && tag.len() == 3 + 64, "{name}");
        }
    }

    #[test]
    fn rate_limit_keys_stay_readable_unless_they_could_break_the_tag() {
        let keys = Keys { prefix: "p".into() };
        assert_eq!(keys.bucket(Bucket::Auth, "ip:2001:db8::"), "p:{rl:auth:ip:2001:db8::}");
        assert_eq!(keys.bucket(Bucket::Api, "user:7"), "p:{rl:api:user:7}");
        for awkward in ["a}b", "{x}", "with space", "#looks-hashed", &"x".repeat(200), "é"] {
            let name = keys.bucket(Bucket::Api, awkward);
            assert_eq!(name, format!("p:{{rl:api:#{}}}", hex_sha256(awkward)), "{awkward:?}");
        }
    }

    #[test]
    fn a_prefix_is_printable_ascii_without_braces_or_spaces() {
        assert_eq!(KeyPrefix::parse("tenant-7:prod").unwrap().as_str(), "tenant-7:prod");
        assert_eq!(KeyPrefix::default().as_str(), DEFAULT_PREFIX);
        assert!(KeyPrefix::parse(&"p".repeat(MAX_PREFIX_BYTES)).is_ok());
        for bad in ["", "a{b}", "}", "with space", "tab\there", "café", &"p".repeat(MAX_PREFIX_BYTES + 1)] {
            let error = KeyPrefix::parse(bad).expect_err(bad);
            assert!(error.to_string().contains("without braces"), "{error}");
        }
    }
}
