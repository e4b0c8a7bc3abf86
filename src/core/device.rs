//! Device tokens: the OWASP device-cookie defence against lockouts turned
//! against the owner, adapted to an API.
//!
//! A successful login returns one: opaque to the client, bound to the
//! account (its normalised e-mail) by an HMAC under the signing key, and
//! long-lived. A login that presents a valid one for that account is judged
//! by the token's own small failure budget instead of the account-wide
//! lockout and the locks other addresses earned; once that budget is spent
//! the token exempts nothing and the usual rules apply. Nothing is stored:
//! the token carries its id and expiry, and the MAC vouches for both. This
//! module must never decide a lockout itself: it only issues and checks.

use super::token::KeyRing;
use super::user::UnixSeconds;
use crate::ports::Entropy;

/// How long a device token exempts its device: a year.
pub const DEVICE_TOKEN_TTL_SECONDS: i64 = 365 * 24 * 60 * 60;

const LABEL: &str = "device-token";

fn hex(bytes: &[u8]) -> String {
    super::hex::encode(bytes)
}

fn mac(keys: &KeyRing, account: &str, id: &str, expires: i64) -> String {
    hex(&keys.derive(LABEL, &mac_input(account, id, expires)))
}

fn mac_input(account: &str, id: &str, expires: i64) -> Vec<u8> {
    format!("{account}\n{id}\n{expires}").into_bytes()
}

/// Issues a device token for `account`, valid until a year after `now`.
pub fn issue(keys: &KeyRing, entropy: &dyn Entropy, account: &str, now: UnixSeconds) -> String {
    let mut id = [0u8; 16];
    entropy.fill(&mut id);
    let id = hex(&id);
    let expires = (now + DEVICE_TOKEN_TTL_SECONDS).seconds();
    format!("{id}.{expires}.{}", mac(keys, account, &id, expires))
}

/// The id of `token` when it is a device token for `account` that has not
/// expired at `now`; `None` otherwise, whatever is wrong with it.
pub fn verify(keys: &KeyRing, token: &str, account: &str, now: UnixSeconds) -> Option<String> {
    let mut parts = token.split('.');
    let (id, expires, presented) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    if expires <= now.seconds() {
        return None;
    }
    // Under any key of the ring: a device token outlives a promotion and
    // ends only when the key that made it is retired.
    let input = mac_input(account, id, expires);
    let matches = keys.derive_all(LABEL, &input).iter().fold(false, |found, candidate| {
        let expected = hex(candidate);
        // Constant time: the comparison must not tell how much of a guess fits.
        let differs = expected.bytes().zip(presented.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        found | (expected.len() == presented.len() && differs == 0)
    });
    matches.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testkit::SeededEntropy;
    use secrecy::SecretString;

    fn keys(fill: char) -> KeyRing {
        KeyRing::new(&[SecretString::from(fill.to_string().repeat(32))]).unwrap()
    }

    const NOW: UnixSeconds = UnixSeconds::new(1_800_000_000);

    #[test]
    fn a_device_token_is_bound_to_its_account_key_and_lifetime() {
        let token = issue(&keys('a'), &SeededEntropy::new(1), "ada@example.com", NOW);
        assert!(verify(&keys('a'), &token, "ada@example.com", NOW).is_some());
        assert!(verify(&keys('a'), &token, "eve@example.com", NOW).is_none(), "another account");
        assert!(verify(&keys('b'), &token, "ada@example.com", NOW).is_none(), "another key");
        assert!(verify(&keys('a'), &token, "ada@example.com", NOW + DEVICE_TOKEN_TTL_SECONDS).is_none());
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.{}", "0".repeat(64));
        assert!(verify(&keys('a'), &forged, "ada@example.com", NOW).is_none(), "a forged MAC");
        let later = token.replacen(&(NOW + DEVICE_TOKEN_TTL_SECONDS).seconds().to_string(), "9999999999", 1);
        assert!(verify(&keys('a'), &later, "ada@example.com", NOW).is_none(), "a stretched expiry");
        for junk in ["", "a.b", "a.b.c.d", &format!("{}.1.x", "g".repeat(32))] {
            assert!(verify(&keys('a'), junk, "ada@example.com", NOW).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn a_device_token_outlives_a_promotion_and_ends_with_its_key() {
        let (a, b) = (SecretString::from("a".repeat(32)), SecretString::from("b".repeat(32)));
        let token = issue(&keys('a'), &SeededEntropy::new(1), "ada@example.com", NOW);
        let promoted = KeyRing::new(&[b.clone(), a]).unwrap();
        assert!(verify(&promoted, &token, "ada@example.com", NOW).is_some());
        let retired = KeyRing::new(&[b]).unwrap();
        assert!(verify(&retired, &token, "ada@example.com", NOW).is_none());
    }
}
