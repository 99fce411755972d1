//! Reading `ccpulse.toml` so that every problem is found in one run, each
//! with its line and column: all syntax errors (the parser recovers), then
//! every type error (a wrong type, an unknown field, a bad duration): after
//! each one the offending entry is set aside and the rest is read again, so
//! the sections' own validation still sees every field that was fine.
//!
//! Messages never show the value of a field that holds a secret
//! (`http.api_token`, `http.metrics_token`, `export.agent_pseudonym_key`,
//! `[kafka.properties]`), and never quote the source
//! line (the `toml` crate's own rendering would).

use std::borrow::Cow;
use std::ops::Range;

use ccpulse_core::settings::Issue;
use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

/// A place in the file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A problem and where it is, when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub issue: Issue,
    pub at: Option<Location>,
}

/// Whether a field (dotted path) holds a secret: its value is never shown.
pub fn is_secret_field(path: &str) -> bool {
    path == "http.api_token"
        || path == "http.metrics_token"
        || (path.starts_with("http.keys[") && path.ends_with("].token"))
        || path == "export.agent_pseudonym_key"
        || path.starts_with("kafka.properties.")
}

/// A parsed document, with the spans of the file as written.
pub struct Document<'i> {
    text: &'i str,
    /// As written: paths and places are looked up here.
    original: Spanned<DeValue<'i>>,
    /// Secrets expanded, types fixed up, bad entries set aside.
    current: Spanned<DeValue<'i>>,
}

/// One step of a path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn render(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Steps of a path: `"[3]"` is an array index, anything else a key.
fn keys(path: &[&str]) -> Vec<Step> {
    path.iter()
        .map(|k| {
            match k
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                Some(i) => Step::Index(i),
                None => Step::Key(k.to_string()),
            }
        })
        .collect()
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer != &(0..0)
}

/// The path of the deepest entry whose key or value span holds `span`.
/// (A table's span is only its header, not its contents: every entry is
/// looked at, not only those under a containing parent.)
fn find(v: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Vec<Step>> {
    fn walk(
        v: &Spanned<DeValue<'_>>,
        span: &Range<usize>,
        path: &mut Vec<Step>,
        best: &mut Option<Vec<Step>>,
    ) {
        let mut visit =
            |step: Step, hit: bool, child: &Spanned<DeValue<'_>>, best: &mut Option<Vec<Step>>| {
                path.push(step);
                if hit && best.as_ref().is_none_or(|b| b.len() < path.len()) {
                    *best = Some(path.clone());
                }
                walk(child, span, path, best);
                path.pop();
            };
        match v.get_ref() {
            DeValue::Table(t) => {
                for (k, child) in t.iter() {
                    let hit = contains(&k.span(), span) || contains(&child.span(), span);
                    visit(Step::Key(k.get_ref().to_string()), hit, child, best);
                }
            }
            DeValue::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    visit(Step::Index(i), contains(&child.span(), span), child, best);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(v, span, &mut Vec::new(), &mut best);
    best
}

fn get<'a, 'i>(v: &'a Spanned<DeValue<'i>>, path: &[Step]) -> Option<&'a Spanned<DeValue<'i>>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let child = match (v.get_ref(), first) {
        (DeValue::Table(t), Step::Key(k)) => t.get(k.as_str())?,
        (DeValue::Array(a), Step::Index(i)) => a.get(*i)?,
        _ => return None,
    };
    get(child, rest)
}

fn get_mut<'a, 'i>(
    v: &'a mut Spanned<DeValue<'i>>,
    path: &[Step],
) -> Option<&'a mut Spanned<DeValue<'i>>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let child = match (v.get_mut(), first) {
        (DeValue::Table(t), Step::Key(k)) => t.get_mut(k.as_str())?,
        (DeValue::Array(a), Step::Index(i)) => a.get_mut(*i)?,
        _ => return None,
    };
    get_mut(child, rest)
}

/// Remove the deepest entry (table key or array element) whose key or
/// value holds `span`; returns the span of the table or array it was in.
fn remove_at(v: &mut Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Range<usize>> {
    let path = find(v, span)?;
    let (last, parent) = path.split_last()?;
    let parent = get_mut(v, parent)?;
    let parent_span = parent.span();
    match (parent.get_mut(), last) {
        (DeValue::Table(t), Step::Key(k)) => {
            t.remove(k.as_str())?;
        }
        (DeValue::Array(a), Step::Index(i)) => {
            let old = std::mem::replace(a, DeArray::new());
            *a = old
                .into_iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, c)| c)
                .collect();
        }
        _ => return None,
    }
    Some(parent_span)
}

impl<'i> Document<'i> {
    /// Parse `text`; every syntax error at once if it is not valid TOML.
    pub fn parse(text: &'i str) -> Result<Self, Vec<Located>> {
        let (root, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            let mut errors = errors;
            errors.sort_by_key(|e| e.span().map(|s| s.start));
            return Err(errors
                .iter()
                .map(|e| Located {
                    issue: Issue::new(
                        "TOML syntax",
                        e.message().to_string(),
                        "fix the syntax at this place (https://toml.io)",
                    ),
                    at: e.span().map(|s| location(text, s.start)),
                })
                .collect());
        }
        let span = root.span();
        let root = Spanned::new(span, DeValue::Table(root.into_inner()));
        Ok(Document {
            text,
            original: root.clone(),
            current: root,
        })
    }

    /// Where `field` (as an [`Issue`] names it, e.g. `engine.windows[0].slice`
    /// or `kafka.properties.sasl.password`: keys may contain dots) is
    /// written, or its nearest written parent.
    pub fn locate(&self, field: &str) -> Option<Location> {
        fn walk<'a, 'i>(
            v: &'a Spanned<DeValue<'i>>,
            rest: &str,
        ) -> Option<&'a Spanned<DeValue<'i>>> {
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if rest.is_empty() {
                return Some(v);
            }
            let found = match v.get_ref() {
                DeValue::Table(t) => t
                    .iter()
                    .filter(|(k, _)| {
                        let k = k.get_ref().as_ref();
                        rest.strip_prefix(k)
                            .is_some_and(|r| r.is_empty() || r.starts_with(['.', '[']))
                    })
                    .max_by_key(|(k, _)| k.get_ref().len())
                    .and_then(|(k, c)| walk(c, &rest[k.get_ref().len()..])),
                DeValue::Array(a) => rest
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']'))
                    .and_then(|(i, r)| Some((a.get(i.parse::<usize>().ok()?)?, r)))
                    .and_then(|(c, r)| walk(c, r)),
                _ => None,
            };
            found.or(Some(v))
        }
        let v = walk(&self.original, field)?;
        (v.span() != self.original.span() || field.is_empty())
            .then(|| location(self.text, v.span().start))
    }

    /// The string at `path` (table keys), for expanding in place; `None` if
    /// it is not written or not a string.
    pub fn string_mut(&mut self, path: &[&str]) -> Option<&mut Cow<'i, str>> {
        match get_mut(&mut self.current, &keys(path))?.get_mut() {
            DeValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The length of the array at `path` (0 if none).
    pub fn array_len(&self, path: &[&str]) -> usize {
        match get(&self.current, &keys(path)).map(Spanned::get_ref) {
            Some(DeValue::Array(a)) => a.len(),
            _ => 0,
        }
    }

    /// The keys of the table at `path` (empty if none).
    pub fn keys(&self, path: &[&str]) -> Vec<String> {
        match get(&self.current, &keys(path)).map(Spanned::get_ref) {
            Some(DeValue::Table(t)) => t.keys().map(|k| k.get_ref().to_string()).collect(),
            _ => Vec::new(),
        }
    }

    /// Write the integer, float or boolean at `path` as a string (for
    /// pass-through maps of strings such as `[kafka.properties]`, where
    /// `"session.timeout.ms" = 45000` means `"45000"`).
    pub fn stringify(&mut self, path: &[&str]) {
        let Some(v) = get_mut(&mut self.current, &keys(path)) else {
            return;
        };
        let text = match v.get_ref() {
            DeValue::Integer(i) if i.radix() == 10 => i.as_str().to_string(),
            DeValue::Float(f) => f.as_str().to_string(),
            DeValue::Boolean(b) => b.to_string(),
            _ => return,
        };
        *v.get_mut() = DeValue::String(Cow::Owned(text));
    }

    /// Every string value with its field path.
    pub fn strings(&self) -> Vec<(String, String)> {
        fn walk(v: &Spanned<DeValue<'_>>, path: &mut Vec<Step>, out: &mut Vec<(String, String)>) {
            match v.get_ref() {
                DeValue::String(s) => out.push((render(path), s.to_string())),
                DeValue::Table(t) => {
                    for (k, c) in t.iter() {
                        path.push(Step::Key(k.get_ref().to_string()));
                        walk(c, path, out);
                        path.pop();
                    }
                }
                DeValue::Array(a) => {
                    for (i, c) in a.iter().enumerate() {
                        path.push(Step::Index(i));
                        walk(c, path, out);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.original, &mut Vec::new(), &mut out);
        out
    }

    /// Deserialize the document as `T`, recording every type error in
    /// `problems` and reading on without the entry at fault; entries set
    /// aside take their defaults.
    pub fn deserialize<T: DeserializeOwned + Default>(&mut self, problems: &mut Vec<Located>) -> T {
        // Tables and arrays we took something out of: a "missing field"
        // there is ours, not the file's.
        let mut emptied: Vec<Range<usize>> = Vec::new();
        for _ in 0..256 {
            let e = match T::deserialize(ValueDeserializer::from(self.current.clone())) {
                Ok(t) => return t,
                Err(e) => e,
            };
            let Some(span) = e.span() else {
                problems.push(self.type_problem(&e, None));
                return T::default();
            };
            let ours = e.message().starts_with("missing field") && emptied.contains(&span);
            if !ours {
                problems.push(self.type_problem(&e, Some(&span)));
            }
            match remove_at(&mut self.current, &span) {
                Some(parent) => emptied.push(parent),
                None => return T::default(),
            }
        }
        T::default()
    }

    fn type_problem(&self, e: &toml::de::Error, span: Option<&Range<usize>>) -> Located {
        let path = span
            .and_then(|s| find(&self.original, s))
            .unwrap_or_default();
        let field = match render(&path) {
            p if p.is_empty() => "(top level)".to_string(),
            p => p,
        };
        let message = e.message().trim().to_string();
        let (problem, fix) = if is_secret_field(&field) {
            (
                "must be a string (the value is not shown: this field holds a secret)".to_string(),
                "write it as a quoted string, e.g. \"${MY_SECRET}\" to read it from the environment"
                    .to_string(),
            )
        } else {
            explain(&message)
        };
        Located {
            issue: Issue::new(field, problem, fix),
            at: span.map(|s| location(self.text, s.start)),
        }
    }
}

/// A type error's message as (problem, fix).
fn explain(message: &str) -> (String, String) {
    // Our own messages carry their fix after "; ", e.g. durations.
    if let Some((problem, fix)) = message.split_once("; ") {
        if fix.starts_with("write") || fix.starts_with("use") {
            return (problem.to_string(), fix.to_string());
        }
    }
    let fix = if message.starts_with("unknown field") {
        "remove it, or use one of the expected names (see the reference in README.md)"
    } else if message.starts_with("unknown variant") {
        "use one of the expected values"
    } else if message.starts_with("missing field") {
        "add the missing field"
    } else if message.starts_with("invalid type") || message.starts_with("wanted") {
        "write a value of the expected type (strings in quotes, durations as \"20s\")"
    } else {
        "correct the value"
    };
    (message.to_string(), fix.to_string())
}

/// Byte offset to a 1-based line and column (in characters).
fn location(text: &str, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary_compat(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    Location { line, column }
}

/// `str::floor_char_boundary` (unstable) for the offsets the parser gives.
trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: u32,
        #[serde(default)]
        b: String,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        x: Inner,
        #[serde(default)]
        y: Inner,
        #[serde(default)]
        list: Vec<Need>,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[allow(dead_code)] // read by serde only
    struct Need {
        name: String,
        n: u32,
    }

    #[test]
    fn every_type_error_is_found_with_its_place_and_the_rest_is_read() {
        let text = "[x]\na = \"one\"\nb = \"kept\"\nzzz = 1\n[y]\na = 7\nb = 8\n\n[[list]]\nname = \"ok\"\nn = 1\n[[list]]\nname = 2\nn = 3\n[[list]]\nn = 4\n";
        let mut doc = Document::parse(text).unwrap();
        let mut problems = Vec::new();
        let v: Outer = doc.deserialize(&mut problems);
        let got: Vec<(String, Option<Location>)> = problems
            .iter()
            .map(|p| (p.issue.field.clone(), p.at))
            .collect();
        let at = |line, column| Some(Location { line, column });
        assert_eq!(
            got,
            vec![
                ("list[1].name".to_string(), at(13, 8)),
                ("list[2]".to_string(), at(15, 1)),
                ("x.a".to_string(), at(2, 5)),
                ("x.zzz".to_string(), at(4, 1)),
                ("y.b".to_string(), at(7, 5)),
            ],
            "{problems:#?}"
        );
        assert!(problems[1].issue.problem.contains("missing field `name`"));
        assert!(problems[3].issue.problem.contains("unknown field `zzz`"));
        assert_eq!((v.x.b.as_str(), v.y.a), ("kept", 7));
        assert_eq!(v.list.len(), 1);
    }

    #[test]
    fn syntax_errors_come_all_at_once_with_their_places() {
        let Err(p) = Document::parse("a = \nb = \"x\"\nc = [1,\n[t\n") else {
            panic!("not valid TOML");
        };
        assert!(p.len() >= 2, "{p:#?}");
        assert!(p.iter().all(|p| p.at.is_some() && !p.issue.fix.is_empty()));
        assert_eq!(p[0].at.map(|l| l.line), Some(1));
    }

    #[test]
    fn secret_fields_never_show_their_value() {
        #[derive(Debug, Default, serde::Deserialize)]
        #[allow(dead_code)] // read by serde only
        struct Http {
            #[serde(default)]
            api_token: Option<String>,
        }
        #[derive(Debug, Default, serde::Deserialize)]
        #[allow(dead_code)] // read by serde only
        struct F {
            #[serde(default)]
            http: Http,
        }
        let mut doc = Document::parse("[http]\napi_token = 123456789\n").unwrap();
        let mut problems = Vec::new();
        let _: F = doc.deserialize(&mut problems);
        assert_eq!(problems.len(), 1);
        let shown = format!("{:?}", problems[0]);
        assert!(!shown.contains("123456789"), "{shown}");
        assert_eq!(problems[0].issue.field, "http.api_token");
    }

    #[test]
    fn fields_are_located_by_their_path() {
        let doc =
            Document::parse("[engine]\nwindows = [ { name = \"5m\", slice = \"7s\" } ]\n").unwrap();
        assert_eq!(
            doc.locate("engine.windows[0].slice"),
            Some(Location {
                line: 2,
                column: 36
            })
        );
        assert_eq!(doc.locate("engine.nothing").map(|l| l.line), Some(1));
        assert_eq!(doc.locate("kafka.brokers"), None);
        let doc =
            Document::parse("[kafka.properties]\n\"sasl.password\" = \"x\"\n\"sasl\" = \"y\"\n")
                .unwrap();
        assert_eq!(
            doc.locate("kafka.properties.sasl.password").map(|l| l.line),
            Some(2)
        );
    }
}
