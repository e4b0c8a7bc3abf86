//! `portcullis keys generate`: a fresh signing key, printed as one entry of
//! a ring document (`{"kid", "alg", "state", "key"}`), ready to be added to
//! whatever source holds the ring. Staged as `verify-only` unless told
//! otherwise, so that adding it changes nothing until it is promoted. With
//! `--raw`, an HS256 key alone, for the legacy comma-separated list.

use crate::core::keyring::{generate_private_key, is_valid_kid, Algorithm, KeyState};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

pub const USAGE: &str =
    "usage: portcullis keys generate --alg hs256|eddsa|es256 [--kid KID] [--state verify-only|active] [--raw]";

/// Random bytes in a generated HS256 key: 256 bits, 43 characters.
const HS256_KEY_BYTES: usize = 32;

#[derive(Debug, PartialEq, Eq)]
struct Options {
    alg: Algorithm,
    kid: Option<String>,
    state: KeyState,
    raw: bool,
}

/// Runs `keys …` with the arguments after `keys`; the text to print.
///
/// # Errors
/// A message with the usage when the arguments are wrong.
pub fn run(args: &[String]) -> Result<String, String> {
    let options = parse(args).map_err(|problem| format!("{problem}\n{USAGE}"))?;
    generate(&options)
}

fn parse(args: &[String]) -> Result<Options, String> {
    let Some((command, mut rest)) = args.split_first() else { return Err("keys: a subcommand is missing".into()) };
    if command != "generate" {
        return Err(format!("keys: unknown subcommand {command:?}"));
    }
    let (mut alg, mut kid, mut state, mut raw) = (None, None, KeyState::VerifyOnly, false);
    while let Some((flag, tail)) = rest.split_first() {
        rest = tail;
        if flag == "--raw" {
            raw = true;
            continue;
        }
        let Some((value, tail)) = rest.split_first() else { return Err(format!("{flag} needs a value")) };
        rest = tail;
        match flag.as_str() {
            "--alg" => {
                let found = Algorithm::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(value));
                alg = Some(found.ok_or_else(|| format!("--alg {value:?} is not hs256, eddsa or es256"))?);
            }
            "--kid" if is_valid_kid(value) => kid = Some(value.clone()),
            "--kid" => return Err("--kid must be 1 to 64 characters of A-Z, a-z, 0-9, `.`, `_`, `-`".into()),
            "--state" => {
                state =
                    KeyState::parse(value).ok_or_else(|| format!("--state {value:?} is not verify-only or active"))?;
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let alg = alg.ok_or("--alg is required")?;
    if raw && (alg != Algorithm::Hs256 || kid.is_some()) {
        return Err("--raw prints a bare HS256 key: it takes --alg hs256 and no --kid".into());
    }
    Ok(Options { alg, kid, state, raw })
}

fn generate(options: &Options) -> Result<String, String> {
    let random = SystemRandom::new();
    let key = match options.alg {
        Algorithm::Hs256 => {
            let mut bytes = [0u8; HS256_KEY_BYTES];
            random.fill(&mut bytes).map_err(|_| "the system random source failed")?;
            SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
        }
        alg => generate_private_key(alg).ok_or("the system random source failed")?,
    };
    if options.raw {
        return Ok(key.expose_secret().to_owned());
    }
    let kid = if let Some(kid) = &options.kid {
        kid.clone()
    } else {
        // The day it was made, and enough randomness that two keys made
        // the same day differ.
        let mut suffix = [0u8; 4];
        random.fill(&mut suffix).map_err(|_| "the system random source failed")?;
        let date = time::OffsetDateTime::now_utc().date();
        let day = format!("{}{:02}{:02}", date.year(), u8::from(date.month()), date.day());
        format!("{day}-{}", crate::core::hex::encode(&suffix))
    };
    let entry = serde_json::json!({
        "kid": kid,
        "alg": options.alg.as_str(),
        "state": options.state.as_str(),
        "key": key.expose_secret(),
    });
    Ok(entry.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::keyring::KeyRing;
    use crate::ports::RingDocument;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn every_algorithm_generates_an_entry_the_ring_accepts() {
        for alg in ["hs256", "eddsa", "es256", "EdDSA"] {
            let entry = run(&args(&format!("generate --alg {alg} --state active"))).unwrap();
            let document = RingDocument::parse(&format!(r#"{{"keys":[{entry}]}}"#)).unwrap();
            let ring = KeyRing::from_document(&document).unwrap();
            assert!(is_valid_kid(ring.signing_kid()), "{alg}");
            assert_eq!(ring.signing_algorithm().as_str().to_lowercase(), alg.to_lowercase());
        }
    }

    #[test]
    fn keys_are_staged_verify_only_with_a_fresh_kid_by_default() {
        let first: serde_json::Value = serde_json::from_str(&run(&args("generate --alg es256")).unwrap()).unwrap();
        let second: serde_json::Value = serde_json::from_str(&run(&args("generate --alg es256")).unwrap()).unwrap();
        assert_eq!(first["state"], "verify-only");
        assert_ne!(first["kid"], second["kid"]);
        assert_ne!(first["key"], second["key"]);
        assert!(first["key"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let named: serde_json::Value =
            serde_json::from_str(&run(&args("generate --alg hs256 --kid 2026-12")).unwrap()).unwrap();
        assert_eq!(named["kid"], "2026-12");
    }

    #[test]
    fn raw_prints_a_bare_hs256_key_for_the_legacy_list() {
        let key = run(&args("generate --alg hs256 --raw")).unwrap();
        assert_eq!(key.len(), 43);
        assert!(KeyRing::new(&[SecretString::from(key)]).is_ok());
    }

    #[test]
    fn wrong_arguments_say_what_is_wrong_and_show_the_usage() {
        for (line, problem) in [
            ("", "subcommand is missing"),
            ("rotate", "unknown subcommand"),
            ("generate", "--alg is required"),
            ("generate --alg rs256", "is not hs256"),
            ("generate --alg eddsa --raw", "--raw"),
            ("generate --alg hs256 --state primary", "--state"),
            ("generate --alg hs256 --kid a/b", "--kid must be"),
            ("generate --alg hs256 --kid", "needs a value"),
            ("generate --alg hs256 --force yes", "unknown option"),
        ] {
            let message = run(&args(line)).unwrap_err();
            assert!(message.contains(problem) && message.contains(USAGE), "{line}: {message}");
        }
    }
}
