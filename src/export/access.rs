//! Who may read what: API keys, their roles and tenant scopes, and the
//! decision for one request.
//!
//! A key (`[[http.keys]]`) has a `name` (what logs show, never the token),
//! a token (`token`, or `token_sha256`: its SHA-256, so the file holds no
//! secret), a [`Role`] and a [`Scope`] of tenants. `http.api_token` is an
//! all-tenant `viewer` key and `http.metrics_token` an all-tenant `metrics`
//! key, so deployments from before keys behave as they did.
//!
//! | role | `/api/v1/snapshot`, `/api/v1/stream`, the wallboard's figures | `/metrics` |
//! | --- | --- | --- |
//! | `viewer` | its tenants; operators as `export.agent_metrics` says | 403 (while `/metrics` needs a key) |
//! | `supervisor` | its tenants, operators by id (`full`) | 403 (ditto) |
//! | `metrics` | 403 | the series of its tenants, and those without a `tenant` label (process-level) |
//!
//! The API is open (every tenant, as a viewer) while no `viewer` or
//! `supervisor` key is configured, and `/metrics` is open while no
//! `metrics` key is: as before keys existed, each needs its key only once
//! one is set. No credential or an unknown one is answered 401; a known
//! key with the wrong role, or asking (`?tenant=`) for a tenant outside its
//! scope, 403. A guess is hashed (SHA-256) and compared with every key's
//! hash in constant time: the time depends neither on the tokens nor on
//! which key matched.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a key may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Snapshot, stream, wallboard: aggregate figures; operators as
    /// `export.agent_metrics` says.
    Viewer,
    /// What a viewer reads, with per-operator figures under their ids.
    Supervisor,
    /// `/metrics` only.
    Metrics,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Supervisor => "supervisor",
            Role::Metrics => "metrics",
        }
    }

    /// Reads the snapshot API, the stream and the wallboard.
    pub fn reads_api(self) -> bool {
        matches!(self, Role::Viewer | Role::Supervisor)
    }
}

/// The tenants a key sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every tenant (`tenants = ["*"]`).
    All,
    /// These tenants only.
    Tenants(Arc<BTreeSet<String>>),
}

impl Scope {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenants(t) => t.contains(tenant),
        }
    }

    /// The scope narrowed to one tenant, if it allows it.
    pub fn narrowed(&self, tenant: &str) -> Option<Scope> {
        self.allows(tenant)
            .then(|| Scope::Tenants(Arc::new([tenant.to_string()].into())))
    }
}

/// One validated key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    pub role: Role,
    pub scope: Scope,
}

impl KeySpec {
    /// A key given its token.
    pub fn with_token(name: &str, token: &str, role: Role, scope: Scope) -> Self {
        KeySpec {
            name: name.to_string(),
            sha256: sha256(token.as_bytes()),
            role,
            scope,
        }
    }
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// The keys of a server.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    keys: Arc<Vec<KeySpec>>,
}

/// Who a request is, once let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The key's name; `None` on an open route.
    pub key: Option<String>,
    pub role: Role,
    pub scope: Scope,
}

impl Access {
    /// An open route: every tenant, as a viewer.
    pub fn open() -> Self {
        Access {
            key: None,
            role: Role::Viewer,
            scope: Scope::All,
        }
    }

    /// The key's name for logs (`"-"` when open).
    pub fn name(&self) -> &str {
        self.key.as_deref().unwrap_or("-")
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// 401: no credential, or one no key has.
    Unauthenticated(&'static str),
    /// 403: a known key that may not read this (role or tenant).
    Forbidden { key: String, why: String },
}

impl Keys {
    pub fn new(keys: Vec<KeySpec>) -> Self {
        Keys {
            keys: Arc::new(keys),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys, in order.
    pub fn list(&self) -> Vec<KeySpec> {
        self.keys.to_vec()
    }

    /// Whether the API needs a key (some viewer or supervisor key exists).
    pub fn api_closed(&self) -> bool {
        self.keys.iter().any(|k| k.role.reads_api())
    }

    /// Whether `/metrics` needs a key (some metrics key exists).
    pub fn metrics_closed(&self) -> bool {
        self.keys.iter().any(|k| k.role == Role::Metrics)
    }

    /// The key whose token is `guess`, comparing its hash with every
    /// key's in constant time.
    fn find(&self, guess: &str) -> Option<&KeySpec> {
        let h = sha256(guess.as_bytes());
        let mut found = None;
        for k in self.keys.iter() {
            let diff = k
                .sha256
                .iter()
                .zip(&h)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if std::hint::black_box(diff) == 0 && found.is_none() {
                found = Some(k);
            }
        }
        found
    }

    /// The access of a request presenting `token` (if any) to the API.
    pub fn api(&self, token: Option<&str>) -> Result<Access, Denied> {
        if !self.api_closed() {
            return Ok(Access::open());
        }
        let key = self.authenticate(token)?;
        if !key.role.reads_api() {
            return Err(Denied::Forbidden {
                key: key.name.clone(),
                why: format!("role {} does not read the API", key.role.as_str()),
            });
        }
        Ok(access(key))
    }

    /// The access of a request presenting `token` (if any) to `/metrics`.
    pub fn metrics(&self, token: Option<&str>) -> Result<Access, Denied> {
        if !self.metrics_closed() {
            return Ok(Access::open());
        }
        let key = self.authenticate(token)?;
        if key.role != Role::Metrics {
            return Err(Denied::Forbidden {
                key: key.name.clone(),
                why: format!("role {} does not read /metrics", key.role.as_str()),
            });
        }
        Ok(access(key))
    }

    fn authenticate(&self, token: Option<&str>) -> Result<&KeySpec, Denied> {
        let token = token.ok_or(Denied::Unauthenticated("no credentials"))?;
        self.find(token)
            .ok_or(Denied::Unauthenticated("unknown token"))
    }
}

fn access(k: &KeySpec) -> Access {
    Access {
        key: Some(k.name.clone()),
        role: k.role,
        scope: k.scope.clone(),
    }
}

/// Keep the lines of a Prometheus text exposition a scope may read:
/// comments, series without a `tenant` label, and series whose `tenant`
/// is in the scope. An all-tenant scope gets the text as rendered.
pub fn filter_exposition(text: String, scope: &Scope) -> String {
    if *scope == Scope::All {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let keep = line.starts_with('#')
            || match tenant_label(line) {
                None => true,
                Some(t) => scope.allows(&t),
            };
        if keep {
            out.push_str(line);
        }
    }
    out
}

/// The value of the `tenant` label of a sample line (unescaped).
fn tenant_label(line: &str) -> Option<String> {
    let open = line.find('{')?;
    let mut rest = &line[open + 1..];
    loop {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim_start_matches([',', ' ']);
        rest = rest[eq + 1..].strip_prefix('"')?;
        // The value up to the closing unescaped quote.
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()? {
                    (_, 'n') => value.push('\n'),
                    (_, c) => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        if name == "tenant" {
            return Some(value);
        }
        rest = &rest[end + 1..];
        if rest.starts_with('}') {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(t: &[&str]) -> Scope {
        Scope::Tenants(Arc::new(t.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn exposition_lines_of_other_tenants_are_dropped() {
        let text = "# HELP x help\n# TYPE x counter\nx{tenant=\"acme\",queue=\"q\"} 1\nx{queue=\"q\",tenant=\"globex\"} 2\ny 3\nz{topic=\"t\"} 4\nw{tenant=\"a\\\"b\"} 5\n";
        let got = filter_exposition(text.to_string(), &scope(&["acme"]));
        assert_eq!(
            got,
            "# HELP x help\n# TYPE x counter\nx{tenant=\"acme\",queue=\"q\"} 1\ny 3\nz{topic=\"t\"} 4\n"
        );
        assert!(filter_exposition(text.to_string(), &scope(&["a\"b"])).contains("w{tenant"));
        assert_eq!(filter_exposition(text.to_string(), &Scope::All), text);
    }

    #[test]
    fn keys_match_by_token_and_decide_by_role() {
        let keys = Keys::new(vec![
            KeySpec::with_token("v", "tv", Role::Viewer, scope(&["a"])),
            KeySpec::with_token("m", "tm", Role::Metrics, Scope::All),
        ]);
        assert_eq!(keys.api(Some("tv")).unwrap().key.as_deref(), Some("v"));
        assert!(matches!(keys.api(None), Err(Denied::Unauthenticated(_))));
        assert!(matches!(
            keys.api(Some("nope")),
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            keys.api(Some("tm")),
            Err(Denied::Forbidden { .. })
        ));
        assert!(matches!(
            keys.metrics(Some("tv")),
            Err(Denied::Forbidden { .. })
        ));
        assert_eq!(keys.metrics(Some("tm")).unwrap().scope, Scope::All);
        assert!(!format!("{keys:?}").contains("tv"));
        // No key of a kind: that route is open.
        let only_metrics = Keys::new(vec![KeySpec::with_token(
            "m",
            "tm",
            Role::Metrics,
            Scope::All,
        )]);
        assert_eq!(only_metrics.api(None), Ok(Access::open()));
    }
}
