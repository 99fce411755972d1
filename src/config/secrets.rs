//! Secrets out of the config file: `${NAME}` (an environment variable) and
//! `${file:/path}` (a file's contents, trimmed) in the string values of the
//! fields that carry secrets: `http.api_token` and every value of
//! `[kafka.properties]` (SASL passwords, TLS key passwords, JAAS lines).
//! `$${` writes a literal `${`. A relative `file:` path is relative to the
//! config file's directory.
//!
//! A reference that cannot be resolved (variable unset or empty, file
//! unreadable or empty) is a problem of that field, reported with every
//! other problem of the file. Problems name the field and the variable or
//! file, never a value: nothing here puts a secret into a message.

use std::path::{Path, PathBuf};

/// Where `${NAME}` and `${file:...}` are looked up: the process (see
/// [`ProcessEnv`]) or, in tests, anything else.
pub trait Env {
    /// The variable's value; `None` when unset (or not UTF-8).
    fn var(&self, name: &str) -> Option<String>;
    /// The file's contents.
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// The process environment and file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// Why a reference could not be expanded: `(problem, fix)`, naming the
/// variable or file, never a value.
pub type Unresolved = (String, String);

/// Whether `s` contains a reference (`${`, not the `$${` escape).
pub fn has_reference(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(1))
        .any(|i| b[i] == b'$' && b[i + 1] == b'{' && (i == 0 || b[i - 1] != b'$'))
}

/// Expand every reference in `value`; `base` is the directory relative
/// `file:` paths start from. Every unresolved reference is reported.
pub fn expand(value: &str, base: &Path, env: &dyn Env) -> Result<String, Vec<Unresolved>> {
    let mut out = String::with_capacity(value.len());
    let mut problems = Vec::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(escaped) = after.strip_prefix("${") {
            out.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            problems.push((
                "has a \"${\" without its closing \"}\"".to_string(),
                "write ${NAME} for an environment variable or ${file:/path} for a file's contents; $${ for a literal \"${\"".to_string(),
            ));
            rest = "";
            break;
        };
        match resolve(&body[..end], base, env) {
            Ok(v) => out.push_str(&v),
            Err(p) => problems.push(p),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn resolve(reference: &str, base: &Path, env: &dyn Env) -> Result<String, Unresolved> {
    if let Some(path) = reference.strip_prefix("file:") {
        let path = path.trim();
        if path.is_empty() {
            return Err((
                "has an empty ${file:} reference".into(),
                "name the file, e.g. ${file:/run/secrets/ccpulse-api-token}".into(),
            ));
        }
        let full: PathBuf = base.join(path);
        return match env.read_file(&full) {
            Ok(text) if text.trim().is_empty() => Err((
                format!(
                    "the file {} (from ${{file:{path}}}) is empty",
                    full.display()
                ),
                "write the secret into the file (or mount the secret there)".into(),
            )),
            Ok(text) => Ok(text.trim().to_string()),
            Err(e) => Err((
                format!(
                    "cannot read {} (from ${{file:{path}}}): {}",
                    full.display(),
                    io_reason(&e)
                ),
                "mount or create the file with the secret in it, readable by ccpulse".into(),
            )),
        };
    }
    let valid = !reference.is_empty()
        && !reference.starts_with(|c: char| c.is_ascii_digit())
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err((
            format!("${{{reference}}} is neither ${{NAME}} (letters, digits, _) nor ${{file:/path}}"),
            "write ${NAME} for an environment variable or ${file:/path} for a file's contents; $${ for a literal \"${\"".into(),
        ));
    }
    match env.var(reference) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err((
            format!("the environment variable {reference} is empty"),
            format!("set {reference} to the secret (e.g. from a Kubernetes Secret)"),
        )),
        None => Err((
            format!("the environment variable {reference} is not set"),
            format!("set {reference} in ccpulse's environment (e.g. from a Kubernetes Secret), or use ${{file:/path}}"),
        )),
    }
}

/// An I/O error's kind in words, without anything read.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    struct FakeEnv {
        vars: BTreeMap<&'static str, &'static str>,
        files: BTreeMap<PathBuf, &'static str>,
    }

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).map(|s| s.to_string())
        }
        fn read_file(&self, path: &Path) -> std::io::Result<String> {
            self.files
                .get(path)
                .map(|s| s.to_string())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    }

    fn env() -> FakeEnv {
        FakeEnv {
            vars: BTreeMap::from([("TOKEN", "t0k3n"), ("EMPTY", " ")]),
            files: BTreeMap::from([
                (PathBuf::from("/run/secrets/pw"), "hunter2\n"),
                (PathBuf::from("/etc/ccpulse/rel/pw"), "relative\n"),
                (PathBuf::from("/run/secrets/blank"), "\n"),
            ]),
        }
    }

    fn x(s: &str) -> Result<String, Vec<Unresolved>> {
        expand(s, Path::new("/etc/ccpulse"), &env())
    }

    #[test]
    fn variables_files_and_escapes_expand() {
        assert_eq!(x("plain").unwrap(), "plain");
        assert_eq!(x("${TOKEN}").unwrap(), "t0k3n");
        assert_eq!(x("${file:/run/secrets/pw}").unwrap(), "hunter2");
        assert_eq!(x("${file:rel/pw}").unwrap(), "relative");
        assert_eq!(
            x("user=\"u\" password=\"${TOKEN}\";").unwrap(),
            "user=\"u\" password=\"t0k3n\";"
        );
        assert_eq!(x("a$${TOKEN}b$c$").unwrap(), "a${TOKEN}b$c$");
        assert!(!has_reference("a$${b}"));
        assert!(has_reference("${b}") && has_reference("x${b}"));
    }

    #[test]
    fn unresolved_references_name_the_variable_or_file_never_a_value() {
        let all = |s: &str| -> String {
            x(s).unwrap_err()
                .into_iter()
                .map(|(p, f)| format!("{p} / {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let e = all("${MISSING}${EMPTY}");
        assert!(
            e.contains("MISSING is not set") && e.contains("EMPTY is empty"),
            "{e}"
        );
        let e = all("${file:/nope}");
        assert!(e.contains("/nope") && e.contains("no such file"), "{e}");
        assert!(all("${file:/run/secrets/blank}").contains("is empty"));
        assert!(all("${TOKEN").contains("closing"));
        assert!(all("${a-b}").contains("neither"));
        assert!(all("${file:}").contains("empty ${file:}"));
        for s in ["${MISSING}", "${file:/nope}", "x${TOKEN"] {
            assert!(!all(s).contains("t0k3n") && !all(s).contains("hunter2"));
        }
    }
}
