//! School sign-in: OpenID Connect's authorization code flow with PKCE,
//! `state` and `nonce`, against the school's identity provider.
//!
//! - `mod.rs`: the provider as discovered at start-up (its metadata and
//!   keys), the two halves of a sign-in ([`Oidc::begin`] and
//!   [`Oidc::finish`]) and what can go wrong, each with its stable code;
//! - `groups.rs`: the operator's mapping from groups to roles and courses.
//!
//! The HTTP side (the redirect, the callback, the session) is
//! `api/oidc.rs`. The identity is the pair (issuer, `sub`), never an
//! e-mail address; the user name comes from a configured claim and is only
//! a name: a second subject claiming a taken name is refused, not merged.
//!
//! What the ID token must pass, beyond what `openidconnect` checks (its
//! signature, `iss`, `aud`): only asymmetric algorithms (no `none`, no
//! HMAC over the client secret), `exp` and `iat` within a bounded clock
//! skew, the `nonce` of this browser's pending sign-in. A token signed by a
//! key the cached JWKS does not have makes labtail fetch the JWKS again
//! (the provider rotated its keys), at most once per
//! `--oidc-jwks-refresh-interval`.

mod groups;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::config::OidcSettings;
use crate::wire::Code;

pub use groups::{GroupMap, Mapped};

/// Why a sign-in failed: the stable code the callback answers with
/// (`docs/protocol.md`), and a message for the person and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

fn fail(code: Code, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// A sign-in on its way through the provider, kept in the browser's
/// (not yet logged-in) session. Secrets: never logged.
#[derive(Clone, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    /// When it began (seconds since the epoch).
    at: i64,
}

/// How many sign-ins one browser may have pending at once (several tabs).
pub const MAX_PENDING: usize = 4;

/// Who signed in, as the provider vouches for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub groups: Vec<String>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider, as discovered at start-up.
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    client: Client,
    metadata: CoreProviderMetadata,
    /// The last mapping read without error (re-read at every sign-in).
    groups: Mutex<GroupMap>,
    callback_path: String,
    /// The provider's keys and when they were last fetched.
    keys: Mutex<(CoreJsonWebKeySet, Instant)>,
    /// Serialises JWKS refreshes (one fetch for a burst of sign-ins).
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

/// The asymmetric algorithms an ID token may be signed with.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

impl Oidc {
    /// Reads the secret and the groups file and discovers the provider.
    /// Every error names the flag it is about and why.
    pub async fn discover(settings: OidcSettings) -> Result<Oidc, String> {
        let redirect = reqwest::Url::parse(&settings.redirect_url)
            .map_err(|e| format!("--oidc-redirect-url {:?}: {e}", settings.redirect_url))?;
        check_redirect(&redirect)?;
        let callback_path = redirect.path().to_owned();
        let secret = match &settings.client_secret_file {
            None => None,
            Some(path) => Some(ClientSecret::new(crate::config::read_secret_file(
                "oidc-client-secret-file",
                path,
            )?)),
        };
        let groups =
            GroupMap::load(&settings.groups_file).map_err(|e| format!("--oidc-groups-file {e}"))?;
        if settings.client_id.trim().is_empty() {
            return Err("--oidc-client-id is empty".into());
        }
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| format!("--oidc-issuer {:?}: {e}", settings.issuer))?;
        let http = reqwest::Client::builder()
            // Following redirects from the provider would let it point
            // labtail anywhere (SSRF); the spec needs none.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.http_timeout)
            .build()
            .map_err(|e| format!("--oidc-issuer: cannot make an HTTP client: {e}"))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| {
                format!(
                    "--oidc-issuer {}: discovery failed (is the provider up and is this its issuer URL?): {}",
                    settings.issuer,
                    error_chain(&e)
                )
            })?;
        if metadata.jwks().keys().is_empty() {
            return Err(format!(
                "--oidc-issuer {}: the provider's JWKS ({}) has no keys",
                settings.issuer,
                metadata.jwks_uri().url()
            ));
        }
        if metadata.token_endpoint().is_none() {
            return Err(format!(
                "--oidc-issuer {}: the discovery document has no token endpoint",
                settings.issuer
            ));
        }
        let redirect_url = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| format!("--oidc-redirect-url {:?}: {e}", settings.redirect_url))?;
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect_url);
        let keys = Mutex::new((metadata.jwks().clone(), Instant::now()));
        Ok(Oidc {
            settings,
            http,
            client,
            metadata,
            groups: Mutex::new(groups),
            callback_path,
            keys,
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The path the provider sends browsers back to.
    pub fn callback_path(&self) -> &str {
        &self.callback_path
    }

    pub fn display_name(&self) -> &str {
        &self.settings.display_name
    }

    pub fn login_timeout(&self) -> Duration {
        self.settings.login_timeout
    }

    /// The operator's group mapping, read again (the operator may change
    /// it while labtail runs); a file that no longer reads keeps the last
    /// good one, with a warning.
    pub fn groups(&self) -> GroupMap {
        let mut held = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        match GroupMap::load(&self.settings.groups_file) {
            Ok(fresh) => *held = fresh,
            Err(e) => {
                tracing::warn!(error = %e, "--oidc-groups-file no longer reads; using the last good mapping")
            }
        }
        held.clone()
    }

    /// Starts a sign-in: where to send the browser, and what to keep in its
    /// session until it comes back.
    pub fn begin(&self, now: i64) -> (String, Pending) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.settings.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            at: now,
        };
        (url.to_string(), pending)
    }

    /// Takes the pending sign-in `state` names out of `pending` (so a
    /// replayed callback finds nothing); expired ones are dropped too.
    pub fn take_pending(
        &self,
        pending: &mut Vec<Pending>,
        state: &str,
        now: i64,
    ) -> Result<Pending, Failure> {
        let max_age = i64::try_from(self.settings.login_timeout.as_secs()).unwrap_or(i64::MAX);
        pending.retain(|p| now - p.at <= max_age);
        let i = pending
            .iter()
            .position(|p| constant_time_eq(p.state.as_bytes(), state.as_bytes()))
            .ok_or_else(|| {
                fail(
                    Code::OidcState,
                    "this sign-in is not one this browser started, or it took too long; start again",
                )
            })?;
        Ok(pending.remove(i))
    }

    /// Finishes a sign-in: trades the code for tokens, checks the ID
    /// token, and reads who it is and their groups.
    pub async fn finish(&self, code: &str, pending: Pending) -> Result<SignedIn, Failure> {
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| fail(Code::OidcUnavailable, format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier));
        let tokens = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => fail(
                    Code::OidcToken,
                    format!("the provider refused the sign-in code: {r}"),
                ),
                RequestTokenError::Request(e) => fail(
                    Code::OidcUnavailable,
                    format!("the provider cannot be reached: {}", error_chain(&e)),
                ),
                other => fail(
                    Code::OidcToken,
                    format!(
                        "the provider's token answer is not usable: {}",
                        error_chain(&other)
                    ),
                ),
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| fail(Code::OidcToken, "the provider's answer has no ID token"))?;
        let nonce = Nonce::new(pending.nonce);
        self.verify(id_token, &nonce).await?;
        let claims = payload(id_token)?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail(Code::OidcToken, "the ID token has no subject"))?
            .to_owned();
        let mut groups = claim_strings(&claims, &self.settings.groups_claim);
        let mut username = claims
            .get(&self.settings.username_claim)
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Some providers put groups (or the name) only in the userinfo
        // answer; ask it when the ID token lacks them.
        if (groups.is_none() || username.is_none())
            && let Some(info) = self.userinfo(tokens.access_token(), &subject).await?
        {
            groups = groups.or_else(|| claim_strings(&info, &self.settings.groups_claim));
            username = username.or_else(|| {
                info.get(&self.settings.username_claim)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        }
        let username = username.ok_or_else(|| {
            fail(
                Code::OidcUsername,
                format!(
                    "the provider did not say the user name (claim {:?})",
                    self.settings.username_claim
                ),
            )
        })?;
        let username = username.trim().to_ascii_lowercase();
        crate::db::validate_username(&username).map_err(|e| {
            fail(
                Code::OidcUsername,
                format!("claim {:?}: {e}", self.settings.username_claim),
            )
        })?;
        Ok(SignedIn {
            issuer: self.metadata.issuer().to_string(),
            subject,
            username,
            groups: groups.unwrap_or_default(),
        })
    }

    /// Checks the ID token; on a key the cached JWKS lacks, fetches it
    /// again (bounded) and checks once more.
    async fn verify(&self, token: &CoreIdToken, nonce: &Nonce) -> Result<(), Failure> {
        let keys = self.keys().0;
        match self.check(token, nonce, keys) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {}
            other => return other.map_err(token_failure),
        }
        let keys = self.refresh_keys().await?;
        self.check(token, nonce, keys).map_err(token_failure)
    }

    fn check(
        &self,
        token: &CoreIdToken,
        nonce: &Nonce,
        keys: CoreJsonWebKeySet,
    ) -> Result<(), ClaimsVerificationError> {
        let skew = chrono::Duration::from_std(self.settings.clock_skew)
            .unwrap_or_else(|_| chrono::Duration::seconds(60));
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.settings.client_id.clone()),
            self.metadata.issuer().clone(),
            keys,
        )
        .set_allowed_algs(ALLOWED_ALGS)
        // `exp` may be up to the skew in our past.
        .set_time_fn(move || chrono::Utc::now() - skew)
        .set_issue_time_verifier_fn(move |iat| {
            let now = chrono::Utc::now();
            if iat > now + skew {
                Err(format!("issued in the future ({iat}; now {now})"))
            } else {
                Ok(())
            }
        });
        token.claims(&verifier, nonce).map(|_| ())
    }

    fn keys(&self) -> (CoreJsonWebKeySet, Instant) {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The JWKS fetched again, unless it was fetched within the refresh
    /// interval (then the cached one).
    async fn refresh_keys(&self) -> Result<CoreJsonWebKeySet, Failure> {
        let _one = self.refreshing.lock().await;
        let (keys, fetched) = self.keys();
        if fetched.elapsed() < self.settings.jwks_refresh_interval {
            return Ok(keys);
        }
        let fresh = CoreJsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                fail(
                    Code::OidcUnavailable,
                    format!("cannot fetch the provider's keys: {}", error_chain(&e)),
                )
            })?;
        tracing::info!(
            keys = fresh.keys().len(),
            "fetched the identity provider's keys again"
        );
        *self.keys.lock().unwrap_or_else(|p| p.into_inner()) = (fresh.clone(), Instant::now());
        Ok(fresh)
    }

    /// The userinfo answer (plain JSON) for the access token, if the
    /// provider has the endpoint; its `sub` must be the ID token's.
    async fn userinfo(
        &self,
        token: &openidconnect::AccessToken,
        subject: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, Failure> {
        let Some(url) = self.metadata.userinfo_endpoint() else {
            return Ok(None);
        };
        let unavailable = |e: reqwest::Error| {
            fail(
                Code::OidcUnavailable,
                format!(
                    "the provider's userinfo cannot be read: {}",
                    error_chain(&e)
                ),
            )
        };
        let resp = self
            .http
            .get(url.url().clone())
            .bearer_auth(token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        if !resp.status().is_success() {
            return Err(fail(
                Code::OidcToken,
                format!("the provider's userinfo answered {}", resp.status()),
            ));
        }
        // Bounded: a userinfo answer is a few hundred bytes.
        let body = resp.bytes().await.map_err(unavailable)?;
        if body.len() > 256 * 1024 {
            return Err(fail(
                Code::OidcToken,
                "the provider's userinfo answer is too large",
            ));
        }
        let Ok(Value::Object(info)) = serde_json::from_slice::<Value>(&body) else {
            // A signed (JWT) userinfo answer is not read: the ID token's
            // claims are used alone.
            return Ok(None);
        };
        if info.get("sub").and_then(Value::as_str) != Some(subject) {
            return Err(fail(
                Code::OidcToken,
                "the provider's userinfo is about another subject",
            ));
        }
        Ok(Some(info))
    }
}

/// A redirect URL the provider may send a code to: https, or http to this
/// machine only; no fragment.
fn check_redirect(u: &reqwest::Url) -> Result<(), String> {
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let why = match u.scheme() {
        _ if u.host().is_none() => Some("it has no host"),
        _ if u.fragment().is_some() => Some("it may not have a #fragment"),
        "https" => None,
        "http" if loopback => None,
        "http" => {
            Some("it must be https:// (the sign-in code travels in it); http:// only for localhost")
        }
        _ => Some("it must be an https:// URL"),
    };
    match why {
        Some(why) => Err(format!("--oidc-redirect-url {u}: {why}")),
        None => Ok(()),
    }
}

fn token_failure(e: ClaimsVerificationError) -> Failure {
    fail(
        Code::OidcToken,
        format!("the ID token failed a check: {}", error_chain(&e)),
    )
}

/// The ID token's claims as JSON. Only called once it was verified.
fn payload(token: &CoreIdToken) -> Result<serde_json::Map<String, Value>, Failure> {
    let jwt = token.to_string();
    let part = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| fail(Code::OidcToken, "the ID token's claims are not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(fail(
            Code::OidcToken,
            "the ID token's claims are not a JSON object",
        )),
    }
}

/// A claim that is a list of strings (or one string); `None` if absent.
fn claim_strings(claims: &serde_json::Map<String, Value>, name: &str) -> Option<Vec<String>> {
    match claims.get(name)? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls() {
        let ok = [
            "https://labs.school.edu/api/oidc/callback",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
        ];
        for u in ok {
            check_redirect(&reqwest::Url::parse(u).unwrap()).unwrap();
        }
        let bad = ["http://labs.school.edu/cb", "ftp://x/cb", "https://x/cb#f"];
        for u in bad {
            let e = check_redirect(&reqwest::Url::parse(u).unwrap()).unwrap_err();
            assert!(e.contains("--oidc-redirect-url"), "{e}");
        }
    }

    #[test]
    fn group_claims_are_a_list_or_one_string() {
        let m: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"a": ["x", 1, "y"], "b": "z", "c": 3}"#).unwrap();
        assert_eq!(claim_strings(&m, "a"), Some(vec!["x".into(), "y".into()]));
        assert_eq!(claim_strings(&m, "b"), Some(vec!["z".into()]));
        assert_eq!(claim_strings(&m, "c"), None);
        assert_eq!(claim_strings(&m, "d"), None);
    }
}
