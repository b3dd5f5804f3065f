//! `GET /api/me`: what the presented token says, so a client can show who it is logged in as.

use axum::Json;
use pb_domain::wire::me::Me;

use crate::auth::Authenticated;
use crate::problem::Problem;
use crate::routes::tokens::rfc3339;

/// The caller's org, subject, principal, scope, permissions and expiry. Any valid token may ask.
#[utoipa::path(get, path = "/api/me", tag = "meta", operation_id = "whoami",
    responses((status = 200, body = Me), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn whoami(Authenticated(caller): Authenticated) -> Json<Me> {
    let claims = &caller.claims;
    Json(Me {
        org: claims.org.clone(),
        subject: claims.sub.clone(),
        principal: caller.principal().to_string(),
        scope: claims.scope.clone(),
        permissions: claims.perms.clone(),
        issued_at: rfc3339(claims.iat),
        expires_at: rfc3339(claims.exp),
    })
}
