//! RFC 6750 challenges and the JWT header parameters an attacker controls:
//! `crit` and `typ` on a token signed with the real key.

use crate::helpers::*;
use serde_json::json;

const CHALLENGE: &str = "www-authenticate";
const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";

#[tokio::test(flavor = "multi_thread")]
async fn a_token_with_an_unknown_critical_header_is_refused() {
    let app = spawn_app().await;
    let (id, _, _) = app.new_user("crit").await;
    let mut jose = hs256_header(&app.jwt_key);
    jose["crit"] = json!(["exp"]);
    jose["exp"] = json!(now() + 60);
    let token = forge_token(&app.jwt_key, &jose, &valid_claims(&id, "user"));

    for response in [app.me(&token).await, app.verify(&token).await] {
        assert_eq!(header(response.headers(), CHALLENGE), Some(INVALID_TOKEN));
        assert_problem(response, 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_typed_other_than_jwt_or_at_jwt_is_refused() {
    let app = spawn_app().await;
    let (id, _, _) = app.new_user("typ").await;
    let typed = |typ: &str| {
        let mut header = hs256_header(&app.jwt_key);
        header["typ"] = json!(typ);
        forge_token(&app.jwt_key, &header, &valid_claims(&id, "user"))
    };
    assert_eq!(app.me(&typed("at+jwt")).await.status().as_u16(), 200);
    let mut untyped = hs256_header(&app.jwt_key);
    untyped.as_object_mut().unwrap().remove("typ");
    assert_eq!(app.me(&forge_token(&app.jwt_key, &untyped, &valid_claims(&id, "user"))).await.status().as_u16(), 200);

    for typ in ["JOSE", "dpop+jwt", "refresh"] {
        assert_problem(app.me(&typed(typ)).await, 401, "invalid_token").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_401_carries_a_bearer_challenge() {
    let app = spawn_app().await;
    let email = unique_email("challenged");
    app.register_ok(&email).await;

    let missing = app.get("/v1/users/me").await;
    assert_eq!(header(missing.headers(), CHALLENGE), Some("Bearer"));
    assert_problem(missing, 401, "invalid_token").await;
    let wrong = app.login(&email, "a-Wrong-password-for-sure-1").await;
    assert_eq!(header(wrong.headers(), CHALLENGE), Some("Bearer"));
    assert_problem(wrong, 401, "invalid_credentials").await;
    let refresh = app.refresh("not-a-refresh-token").await;
    assert_eq!(refresh.status().as_u16(), 401);
    assert_eq!(header(refresh.headers(), CHALLENGE), Some("Bearer"));
    for response in [app.me("garbage").await, app.verify("a.b.c").await, app.logout_all("x").await] {
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(header(response.headers(), CHALLENGE), Some(INVALID_TOKEN));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_admin_hears_insufficient_scope_on_admin_routes() {
    let app = spawn_app().await;
    let (id, _, pair) = app.new_user("scope").await;
    let token = pair.access_token.as_str();

    for response in
        [app.admin_list(token, "").await, app.admin_get(token, &id).await, app.admin_delete(token, &id).await]
    {
        assert_eq!(header(response.headers(), CHALLENGE), Some("Bearer error=\"insufficient_scope\""));
        assert_problem(response, 403, "forbidden").await;
    }
    let anonymous = app.get("/v1/admin/users").await;
    assert_eq!(header(anonymous.headers(), CHALLENGE), Some("Bearer"));
    assert_eq!(anonymous.status().as_u16(), 401);
}
