//! The key ring's rules, and the token attacks replayed against every
//! algorithm a ring may hold.

use super::*;
use crate::core::user::CredentialEpoch;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

const NOW: UnixSeconds = UnixSeconds::new(1_800_000_000);
const HS_KEY: &str = "hs256-key-of-at-least-thirty-two-bytes!!";

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "portcullis".into(),
        audience: "portcullis-api".into(),
        access_ttl_seconds: 900,
        leeway_seconds: 30,
    }
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: "portcullis".into(),
        aud: "portcullis-api".into(),
        sub: Uuid::from_u128(1),
        role: "user".into(),
        sid: Uuid::from_u128(2),
        jti: Uuid::from_u128(3),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 900,
        epoch: CredentialEpoch::INITIAL,
        amr: vec!["pwd".into()],
    }
}

fn entry(kid: Option<&str>, alg: &str, state: &str, key: &str) -> KeyEntry {
    KeyEntry {
        kid: kid.map(str::to_owned),
        alg: alg.to_owned(),
        state: state.to_owned(),
        key: SecretString::from(key.to_owned()),
    }
}

fn document(entries: Vec<KeyEntry>) -> RingDocument {
    RingDocument { keys: entries }
}

fn pem(alg: Algorithm) -> String {
    generate_private_key(alg).unwrap().expose_secret().to_owned()
}

/// A ring of one active key of `alg` named `k1`, and its key text.
fn single(alg: Algorithm) -> (KeyRing, String) {
    let key = if alg == Algorithm::Hs256 { HS_KEY.to_owned() } else { pem(alg) };
    let ring = KeyRing::from_document(&document(vec![entry(Some("k1"), alg.as_str(), "active", &key)])).unwrap();
    (ring, key)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn hmac_token(key: &[u8], header: &Value, body: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// A token signed by the private key `key_pem` of `alg` under `header`.
fn asymmetric_token(alg: Algorithm, key_pem: &str, header: &Header, body: &impl serde::Serialize) -> String {
    let der = pkcs8_der(key_pem).unwrap();
    let key = if alg == Algorithm::EdDsa { EncodingKey::from_ed_der(&der) } else { EncodingKey::from_ec_der(&der) };
    jsonwebtoken::encode(header, body, &key).unwrap()
}

/// A token over any header JSON, signed by `key_pem` with ring directly.
fn raw_signed(alg: Algorithm, key_pem: &str, header: &Value, body: &Value) -> String {
    let der = pkcs8_der(key_pem).unwrap();
    let input = format!("{}.{}", b64(header), b64(body));
    let signature = if alg == Algorithm::EdDsa {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap().sign(input.as_bytes()).as_ref().to_vec()
    } else {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).unwrap();
        pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec()
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The SubjectPublicKeyInfo DER of a ring's public key, as a PEM file of it would hold.
fn spki_der(public: &PublicKey) -> Vec<u8> {
    let x = URL_SAFE_NO_PAD.decode(&public.x).unwrap();
    if public.alg == Algorithm::EdDsa {
        [hex_bytes("302a300506032b6570032100"), x].concat()
    } else {
        let y = URL_SAFE_NO_PAD.decode(public.y.as_ref().unwrap()).unwrap();
        [hex_bytes("3059301306072a8648ce3d020106082a8648ce3d030107034200"), vec![4], x, y].concat()
    }
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn each_algorithm_signs_and_verifies_under_its_own_name() {
    for alg in Algorithm::ALL {
        let (ring, _) = single(alg);
        let token = ring.sign(&claims());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, alg.jwt());
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(ring.signing_algorithm(), alg);
        let principal = ring.verify(&token, &settings(), NOW).unwrap();
        assert_eq!(principal.token_id, Uuid::from_u128(3), "{alg:?}");
    }
}

#[test]
fn the_active_key_signs_and_verify_only_keys_still_verify() {
    let (old, old_pem) = single(Algorithm::EdDsa);
    let old_token = old.sign(&claims());
    let staged = KeyRing::from_document(&document(vec![
        entry(Some("k1"), "EdDSA", "verify-only", &old_pem),
        entry(Some("k2"), "ES256", "active", &pem(Algorithm::Es256)),
    ]))
    .unwrap();
    assert_eq!(staged.signing_kid(), "k2");
    assert!(staged.verify(&old_token, &settings(), NOW).is_ok());
    assert!(old.verify(&staged.sign(&claims()), &settings(), NOW).is_err(), "k2 is unknown to the old ring");
}

#[test]
fn every_rule_of_the_ring_is_checked_and_named() {
    let ed = pem(Algorithm::EdDsa);
    let cases: Vec<(Vec<KeyEntry>, RingError)> = vec![
        (vec![], RingError::Empty),
        (vec![entry(Some("a"), "HS512", "active", HS_KEY)], RingError::UnknownAlgorithm(KeyName::Kid("a".into()))),
        (vec![entry(None, "none", "active", HS_KEY)], RingError::UnknownAlgorithm(KeyName::Position(1))),
        (vec![entry(Some("a"), "HS256", "primary", HS_KEY)], RingError::UnknownState(KeyName::Kid("a".into()))),
        (vec![entry(Some("a b"), "HS256", "active", HS_KEY)], RingError::BadKid(1)),
        (vec![entry(Some(&"k".repeat(65)), "HS256", "active", HS_KEY)], RingError::BadKid(1)),
        (vec![entry(Some(""), "HS256", "active", HS_KEY)], RingError::BadKid(1)),
        (
            vec![entry(Some("a"), "HS256", "active", HS_KEY), entry(Some("a"), "EdDSA", "verify-only", &ed)],
            RingError::DuplicateKid(KeyName::Kid("a".into())),
        ),
        (vec![entry(Some("a"), "HS256", "verify-only", HS_KEY)], RingError::NoActiveKey),
        (
            vec![entry(Some("a"), "HS256", "active", HS_KEY), entry(Some("b"), "EdDSA", "active", &ed)],
            RingError::SeveralActiveKeys(KeyName::Kid("a".into()), KeyName::Kid("b".into())),
        ),
        (
            vec![entry(Some("a"), "HS256", "active", "sekrit-short")],
            RingError::TooShort { key: KeyName::Kid("a".into()), length: 12 },
        ),
        (
            vec![entry(Some("a"), "EdDSA", "active", HS_KEY)],
            RingError::NotPkcs8 { key: KeyName::Kid("a".into()), alg: "EdDSA", curve: "Ed25519" },
        ),
        // An Ed25519 key labelled ES256, and a P-256 key labelled EdDSA.
        (
            vec![entry(Some("a"), "ES256", "active", &ed)],
            RingError::NotPkcs8 { key: KeyName::Kid("a".into()), alg: "ES256", curve: "P-256" },
        ),
        (
            vec![entry(None, "EdDSA", "active", &pem(Algorithm::Es256))],
            RingError::NotPkcs8 { key: KeyName::Position(1), alg: "EdDSA", curve: "Ed25519" },
        ),
        (
            vec![entry(Some("a"), "EdDSA", "active", &ed.replace("PRIVATE KEY", "PUBLIC KEY"))],
            RingError::NotPkcs8 { key: KeyName::Kid("a".into()), alg: "EdDSA", curve: "Ed25519" },
        ),
    ];
    for (entries, expected) in cases {
        let error = KeyRing::from_document(&document(entries)).unwrap_err();
        let message = error.to_string();
        assert_eq!(error, expected, "{message}");
        assert!(
            !message.contains("sekrit") && !message.contains("thirty-two") && !message.contains("MC4C"),
            "{message}"
        );
    }
}

#[test]
fn a_key_without_a_kid_is_named_by_a_hash() {
    let legacy = KeyRing::new(&[SecretString::from(HS_KEY.to_owned())]).unwrap();
    assert_eq!(legacy.signing_kid(), key_id(HS_KEY.as_bytes()));
    let ed = KeyRing::from_document(&document(vec![entry(None, "EdDSA", "active", &pem(Algorithm::EdDsa))])).unwrap();
    let public = ed.public_keys().next().unwrap();
    assert_eq!(public.kid, key_id(&URL_SAFE_NO_PAD.decode(&public.x).unwrap()));
    assert!(is_valid_kid(ed.signing_kid()));
}

#[test]
fn public_keys_are_those_of_the_asymmetric_keys_only() {
    let ring = KeyRing::from_document(&document(vec![
        entry(Some("h"), "HS256", "active", HS_KEY),
        entry(Some("e"), "EdDSA", "verify-only", &pem(Algorithm::EdDsa)),
        entry(Some("p"), "ES256", "verify-only", &pem(Algorithm::Es256)),
    ]))
    .unwrap();
    let keys: Vec<&PublicKey> = ring.public_keys().collect();
    assert_eq!(keys.len(), 2);
    assert_eq!((keys[0].kid.as_str(), keys[0].kty, keys[0].crv, keys[0].y.is_none()), ("e", "OKP", "Ed25519", true));
    assert_eq!((keys[1].kid.as_str(), keys[1].kty, keys[1].crv), ("p", "EC", "P-256"));
    assert_eq!(keys[0].x.len(), 43);
    assert_eq!(keys[1].y.as_ref().map(String::len), Some(43));
    assert_eq!(single(Algorithm::Hs256).0.public_keys().count(), 0);
    assert!(!format!("{ring:?}").contains(HS_KEY));
}

#[test]
fn an_hmac_made_with_the_public_key_is_refused() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let (ring, _) = single(alg);
        let public = ring.public_keys().next().unwrap().clone();
        let spki = spki_der(&public);
        let spki_pem = pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &spki).unwrap();
        let raw = URL_SAFE_NO_PAD.decode(&public.x).unwrap();
        let body = serde_json::to_value(claims()).unwrap();
        for key in [spki_pem.as_bytes(), spki.as_slice(), raw.as_slice(), public.x.as_bytes()] {
            for header in [json!({"alg": "HS256", "kid": "k1"}), json!({"alg": "HS256", "kid": "k1", "typ": "JWT"})] {
                let token = hmac_token(key, &header, &body);
                assert_eq!(ring.verify(&token, &settings(), NOW), Err(TokenError::Invalid), "{alg:?}");
            }
        }
    }
}

#[test]
fn a_token_naming_a_key_under_another_algorithm_is_refused() {
    let edwards = pem(Algorithm::EdDsa);
    let nist = pem(Algorithm::Es256);
    let ring = KeyRing::from_document(&document(vec![
        entry(Some("ed"), "EdDSA", "active", &edwards),
        entry(Some("es"), "ES256", "verify-only", &nist),
        entry(Some("hs"), "HS256", "verify-only", HS_KEY),
    ]))
    .unwrap();
    let with = |alg: jsonwebtoken::Algorithm, kid: &str| {
        let mut header = Header::new(alg);
        header.kid = Some(kid.to_owned());
        header
    };
    // Properly signed by the right key, but under a kid of another algorithm.
    let es_as_ed = asymmetric_token(Algorithm::Es256, &nist, &with(jsonwebtoken::Algorithm::ES256, "ed"), &claims());
    let ed_as_es = asymmetric_token(Algorithm::EdDsa, &edwards, &with(jsonwebtoken::Algorithm::EdDSA, "es"), &claims());
    let body = serde_json::to_value(claims()).unwrap();
    let hs_as_ed = hmac_token(HS_KEY.as_bytes(), &json!({"alg": "HS256", "kid": "ed"}), &body);
    for token in [es_as_ed, ed_as_es, hs_as_ed] {
        assert_eq!(ring.verify(&token, &settings(), NOW), Err(TokenError::Invalid));
    }
    // The same keys under their own kids verify.
    let es = asymmetric_token(Algorithm::Es256, &nist, &with(jsonwebtoken::Algorithm::ES256, "es"), &claims());
    assert!(ring.verify(&es, &settings(), NOW).is_ok());
    assert!(ring
        .verify(&hmac_token(HS_KEY.as_bytes(), &json!({"alg": "HS256", "kid": "hs"}), &body), &settings(), NOW)
        .is_ok());
}

/// The attacks of `token.rs`'s suite, replayed against a ring of each
/// asymmetric algorithm.
#[test]
fn the_token_attacks_fail_against_asymmetric_rings() {
    for alg in [Algorithm::EdDsa, Algorithm::Es256] {
        let (ring, own) = single(alg);
        let check = |token: &str, expected: TokenError, what: &str| {
            assert_eq!(ring.verify(token, &settings(), NOW), Err(expected), "{alg:?}: {what}");
        };
        let body = serde_json::to_value(claims()).unwrap();
        for none in ["none", "None", "NONE", "HS384", "HS512", "RS256", "ES384", "PS256"] {
            check(&format!("{}.{}.", b64(&json!({"alg": none, "kid": "k1"})), b64(&body)), TokenError::Invalid, none);
        }
        // Another key of the same algorithm, under our kid.
        let other = pem(alg);
        let mut header = Header::new(alg.jwt());
        header.kid = Some("k1".into());
        check(&asymmetric_token(alg, &other, &header, &claims()), TokenError::Invalid, "another key");
        // Its own kid: unknown here; no kid at all.
        let mut unknown = header.clone();
        unknown.kid = Some("k9".into());
        check(&asymmetric_token(alg, &other, &unknown, &claims()), TokenError::Invalid, "unknown kid");
        let mut no_kid = header.clone();
        no_kid.kid = None;
        check(&asymmetric_token(alg, &own, &no_kid, &claims()), TokenError::Invalid, "no kid");
        // The forging helper is right: the ring's own key under our kid verifies.
        assert!(ring.verify(&asymmetric_token(alg, &own, &header, &claims()), &settings(), NOW).is_ok());
        // Tampered claims under a real signature.
        let token = ring.sign(&claims());
        let parts: Vec<&str> = token.split('.').collect();
        let mut admin = body.clone();
        admin["role"] = json!("admin");
        check(&format!("{}.{}.{}", parts[0], b64(&admin), parts[2]), TokenError::Invalid, "tampered");
        // Lifetime, issuer and audience, each signed properly.
        let signed = |mutate: &dyn Fn(&mut AccessClaims)| {
            let mut c = claims();
            mutate(&mut c);
            ring.sign(&c)
        };
        check(&signed(&|c| c.exp = NOW - 100), TokenError::Expired, "expired");
        check(&signed(&|c| c.nbf = NOW + 120), TokenError::Invalid, "not yet valid");
        check(&signed(&|c| c.iss = "other".into()), TokenError::Invalid, "issuer");
        check(&signed(&|c| c.aud = "other".into()), TokenError::Invalid, "audience");
        let mut no_exp = body.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        check(&asymmetric_token(alg, &own, &header, &no_exp), TokenError::Invalid, "no exp");
        // Header parameters nobody here understands, and oversize tokens.
        let mut typ = header.clone();
        typ.typ = Some("JOSE".into());
        check(&asymmetric_token(alg, &own, &typ, &claims()), TokenError::Invalid, "typ");
        let plain = json!({"alg": alg.as_str(), "kid": "k1"});
        assert!(ring.verify(&raw_signed(alg, &own, &plain, &body), &settings(), NOW).is_ok());
        let crit = json!({"alg": alg.as_str(), "kid": "k1", "crit": ["exp"], "exp": 1});
        check(&raw_signed(alg, &own, &crit, &body), TokenError::Invalid, "crit");
        check(&"a".repeat(MAX_TOKEN_BYTES + 1), TokenError::Invalid, "oversize");
    }
}

#[test]
fn derivation_follows_the_active_key_and_every_key_can_reproduce_it() {
    let (k1, k2) = (pem(Algorithm::EdDsa), HS_KEY.to_owned());
    let staged = KeyRing::from_document(&document(vec![
        entry(Some("k1"), "EdDSA", "active", &k1),
        entry(Some("k2"), "HS256", "verify-only", &k2),
    ]))
    .unwrap();
    let promoted = KeyRing::from_document(&document(vec![
        entry(Some("k1"), "EdDSA", "verify-only", &k1),
        entry(Some("k2"), "HS256", "active", &k2),
    ]))
    .unwrap();
    let before = staged.derive("label", b"input");
    assert_ne!(before, promoted.derive("label", b"input"));
    assert!(promoted.derive_all("label", b"input").contains(&before));
    assert_eq!(promoted.derive_all("label", b"input")[0], promoted.derive("label", b"input"));
    assert_ne!(before, staged.derive("other", b"input"));
}

proptest! {
    #[test]
    fn arbitrary_documents_never_panic(kid in "\\PC{0,80}", alg in "\\PC{0,8}", state in "\\PC{0,12}", key in "\\PC{0,200}") {
        let _ = KeyRing::from_document(&document(vec![entry(Some(&kid), &alg, &state, &key)]));
    }
}
