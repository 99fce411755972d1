//! The architecture, checked: the rules ARCHITECTURE.md states about the
//! code's shape are facts the test suite enforces, not promises.
//!
//! - The core crate depends on no runtime, network, metrics or HTTP crate.
//! - No file imports from a file that imports it back (no circles), in the
//!   core or the service.
//! - The shells (pipeline, export) never import each other; the core never
//!   imports the service.
//! - `main.rs` parses the command line and calls the assembly point only.
//!
//! Each checker is also run on a small made-up input that breaks its rule,
//! so a checker that cannot fail would fail here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ----- the core's dependencies ----------------------------------------------

/// Crates that mean a runtime, I/O, a global recorder or a server.
const FORBIDDEN_IN_CORE: &[&str] = &[
    "tokio",
    "tokio-util",
    "rdkafka",
    "rdkafka-sys",
    "metrics",
    "metrics-exporter-prometheus",
    "axum",
    "hyper",
    "tower",
    "tracing-subscriber",
    "dashmap",
    "rand",
    "mio",
    "socket2",
];

/// Forbidden crates named in a `cargo tree --prefix none --format {p}`
/// listing (lines like `tokio v1.48.0`).
fn forbidden_in(tree: &str) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN_IN_CORE.contains(name))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_dependency_check_flags_a_forbidden_crate() {
    let tree = "ccpulse-core v0.1.0\nserde v1.0.229\ntokio v1.54.1\nhdrhistogram v7.5.4\n";
    assert_eq!(forbidden_in(tree), BTreeSet::from(["tokio".to_string()]));
}

#[test]
fn the_core_depends_on_no_runtime_io_metrics_or_http_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            "ccpulse-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("ccpulse-core"), "unexpected listing:\n{tree}");
    let bad = forbidden_in(&tree);
    assert!(
        bad.is_empty(),
        "the core crate must stay pure, but depends on {bad:?}; move the code that needs them to a shell"
    );
}

// ----- the import graph -------------------------------------------------------

/// One crate's sources: module path (`["pipeline", "task"]`) -> file.
struct Crate {
    name: &'static str,
    modules: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    fn scan(name: &'static str, src: &Path) -> Crate {
        let mut modules = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read source dir") {
                let p = entry.expect("dir entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let rel = p.strip_prefix(src).expect("under src");
                    let mut parts: Vec<String> = rel
                        .with_extension("")
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                        parts.pop();
                    }
                    if parts == ["main"] {
                        continue; // the binary is its own crate
                    }
                    modules.insert(parts, p);
                }
            }
        }
        Crate { name, modules }
    }

    /// The file a `use` path starting in module `from` refers to: the
    /// longest prefix of the path that is a module with a file.
    fn resolve(&self, from: &[String], path: &[String]) -> Option<&PathBuf> {
        let (mut base, rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (from.to_vec(), &path[1..]),
            "super" => {
                let mut b = from.to_vec();
                let mut i = 0;
                while path.get(i).is_some_and(|s| s == "super") {
                    b.pop();
                    i += 1;
                }
                (b, &path[i..])
            }
            // A child module named without `self::` (`use task::run;`).
            first
                if self
                    .modules
                    .contains_key(&[from, &[first.to_string()]].concat()) =>
            {
                (from.to_vec(), path)
            }
            _ => return None, // another crate or std
        };
        let mut best = self.modules.get(&base);
        for seg in rest {
            base.push(seg.clone());
            match self.modules.get(&base) {
                Some(f) => best = Some(f),
                None => break,
            }
        }
        best
    }

    /// File -> files it imports, from top-level `use` items (test modules
    /// and function bodies are indented and do not count).
    fn graph(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut g = BTreeMap::new();
        for (module, file) in &self.modules {
            let text = std::fs::read_to_string(file).expect("read source");
            let mut edges = BTreeSet::new();
            for path in top_level_use_paths(&text) {
                if let Some(to) = self.resolve(module, &path) {
                    if to != file {
                        edges.insert(to.clone());
                    }
                }
            }
            g.insert(file.clone(), edges);
        }
        g
    }
}

/// Every path named by the top-level `use` items of a file, braces
/// expanded: `use super::{a::B, c};` gives `super::a::B` and `super::c`.
fn top_level_use_paths(text: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(buf) = current.as_mut() {
            buf.push_str(line.trim());
            buf.push(' ');
        } else {
            let l = line.trim_end();
            let stripped = l
                .strip_prefix("pub use ")
                .or_else(|| l.strip_prefix("pub(crate) use "))
                .or_else(|| l.strip_prefix("pub(super) use "))
                .or_else(|| l.strip_prefix("use "));
            if let Some(s) = stripped {
                current = Some(format!("{s} "));
            }
        }
        if current
            .as_ref()
            .is_some_and(|b| b.trim_end().ends_with(';'))
        {
            let b = current.take().unwrap_or_default();
            items.push(b.trim().trim_end_matches(';').to_string());
        }
    }
    let mut out = Vec::new();
    for item in items {
        // `A as B` keeps `A`; mark the rename before spaces go.
        expand(
            &item.replace(" as ", "@").replace(' ', ""),
            &mut Vec::new(),
            &mut out,
        );
    }
    out
}

fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match tree.find('{') {
        None => {
            let mut p = prefix.clone();
            let tree = tree.split('@').next().unwrap_or(tree);
            p.extend(
                tree.split("::")
                    .filter(|s| !s.is_empty() && *s != "*")
                    .map(str::to_string),
            );
            out.push(p);
        }
        Some(open) => {
            let head = &tree[..open];
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let added: Vec<String> = head
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            let n = added.len();
            prefix.extend(added);
            // Split the inner list at top-level commas.
            let (mut depth, mut start) = (0, 0);
            let bytes = inner.as_bytes();
            for i in 0..=bytes.len() {
                let c = bytes.get(i).copied();
                match c {
                    Some(b'{') => depth += 1,
                    Some(b'}') => depth -= 1,
                    Some(b',') | None if depth == 0 => {
                        let part = &inner[start..i];
                        if !part.is_empty() {
                            if part == "self" {
                                out.push(prefix.clone());
                            } else {
                                expand(part, prefix, out);
                            }
                        }
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            prefix.truncate(prefix.len() - n);
        }
    }
}

/// Every cycle of the graph, each as its files in order (Tarjan's strongly
/// connected components of size > 1).
fn circles(g: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        g: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on: BTreeSet<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(ws) = t.g.get(v) {
            for w in ws {
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.reverse();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_import_parser_expands_nested_braces_and_the_circle_finder_finds_circles() {
    let text = "//! doc\nuse std::fmt;\npub use super::{a::B, c::{self, D as E}};\nuse crate::x::{\n    y,\n    z::W,\n};\nfn f() {\n    use super::inner;\n}\n";
    let paths: Vec<String> = top_level_use_paths(text)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "std::fmt",
            "super::a::B",
            "super::c",
            "super::c::D",
            "crate::x::y",
            "crate::x::z::W"
        ]
    );
    let p = |s: &str| PathBuf::from(s);
    let g: BTreeMap<PathBuf, BTreeSet<PathBuf>> = [
        (p("a"), BTreeSet::from([p("b")])),
        (p("b"), BTreeSet::from([p("c")])),
        (p("c"), BTreeSet::from([p("a")])),
        (p("d"), BTreeSet::from([p("a")])),
    ]
    .into();
    assert_eq!(circles(&g), vec![vec![p("a"), p("b"), p("c")]]);
}

fn relative(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.strip_prefix(root()).unwrap_or(f).display().to_string())
        .collect()
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    for krate in [
        Crate::scan("ccpulse-core", &root().join("core/src")),
        Crate::scan("ccpulse", &root().join("src")),
    ] {
        assert!(krate.modules.len() > 10, "{} not scanned", krate.name);
        let found: Vec<Vec<String>> = circles(&krate.graph())
            .iter()
            .map(|c| relative(c))
            .collect();
        assert!(
            found.is_empty(),
            "{}: files that import each other (move the shared item to a leaf both can import):\n{found:#?}",
            krate.name
        );
    }
}

// ----- who may know whom ------------------------------------------------------

/// Files under `dir` (relative to the repository) whose text names `needle`.
fn files_naming(dir: &str, needle: &str) -> Vec<String> {
    let krate = Crate::scan("scan", &root().join(dir));
    let mut hits: Vec<String> = krate
        .modules
        .values()
        .filter(|f| {
            std::fs::read_to_string(f)
                .expect("read source")
                .contains(needle)
        })
        .map(|f| relative(std::slice::from_ref(f)).remove(0))
        .collect();
    hits.sort();
    hits
}

#[test]
fn the_pipeline_and_export_shells_never_import_each_other() {
    assert_eq!(
        files_naming("src/pipeline", "crate::export"),
        Vec::<String>::new()
    );
    assert_eq!(
        files_naming("src/export", "crate::pipeline"),
        Vec::<String>::new()
    );
    // The meeting point imports neither.
    assert_eq!(
        files_naming("src/telemetry", "crate::export"),
        Vec::<String>::new()
    );
    assert_eq!(
        files_naming("src/telemetry", "crate::pipeline"),
        Vec::<String>::new()
    );
}

#[test]
fn the_core_never_names_the_service() {
    assert_eq!(files_naming("core/src", "ccpulse::"), Vec::<String>::new());
}

#[test]
fn main_parses_the_command_line_and_calls_the_assembly_point() {
    let main = std::fs::read_to_string(root().join("src/main.rs")).expect("read main.rs");
    let named: BTreeSet<String> = main
        .match_indices("ccpulse::")
        .map(|(i, _)| {
            main[i + "ccpulse::".len()..]
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let allowed = BTreeSet::from(["app".to_string(), "config".to_string()]);
    assert!(
        named.is_subset(&allowed),
        "main.rs reaches past the assembly point into {:?}",
        named.difference(&allowed).collect::<Vec<_>>()
    );
    assert!(!main.contains("tokio::spawn"), "main.rs spawns tasks");
}
